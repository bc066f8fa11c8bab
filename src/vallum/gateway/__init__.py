"""OpenAI-compatible security gateway (SEC-POL-012 3.3.1, 3.2.2, 3.6.2, 3.5.1)."""
