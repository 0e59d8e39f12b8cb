"""GS1 and GDST identifiers as EPCIS 2.0 documents write them (pure, no I/O).

What foodtrace needs from an identifier is what it says about lots: is it a lot
(product + batch), a product class without a batch, one serialised item, a
container (SSCC) whose contents another event declares, or a place or party.
Forms read:

- EPC URNs (TDS 2.x): `urn:epc:class:lgtin:CP.IR.LOT`, `urn:epc:id:sgtin:CP.IR.SER`,
  `urn:epc:id:sscc:CP.REF`, `urn:epc:id:sgln:CP.LOC.EXT`, `urn:epc:idpat:sgtin:CP.IR.*`,
  `urn:epc:id:pgln:CP.REF`.
- GS1 Digital Link URIs on any domain (`https://id.gs1.org/01/{gtin}/10/{lot}`,
  `https://example.com/path/01/{gtin}/10/{lot}/21/{serial}`, `/00/{sscc}`,
  `/414/{gln}/254/{ext}`, `/417/{party gln}`); a relative `/01/...` path as well.
- GDST URNs (`urn:gdst:{domain}:product:lot:class:{company}.{product}.{lot}`,
  `...:product:class:{company}.{product}`, `...:location:loc:...`, `...:party:...`).
- The forms foodtrace writes for codes that are no GS1 keys:
  `urn:foodtrace:lot:{product_code}:{lot_code}` and `urn:foodtrace:loc:{id}`
  (percent-encoded), so that a peer reading foodtrace's EPCIS can send it back.

Codes: a GTIN lot is `product_code` = the GTIN-14 and `lot_code` = the GS1 element
string `(01){GTIN-14}(10){LOT}`, what the barcode under the label reads; a GDST lot
is its lot URN with `product_code` its product class URN (both globally unique).
A product class without a batch becomes a lot when the event's ILMD names the batch
(`cbvmda:lotNumber`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

Kind = Literal["lot", "product", "item", "container", "location", "party"]


@dataclass(frozen=True)
class Identifier:
    """What one EPC, class or place identifier names."""

    kind: Kind
    value: str  # as written
    product_code: str | None = None  # GTIN-14 or GDST product class
    lot_code: str | None = None
    serial: str | None = None


def _is_digits(s: str) -> bool:
    """ASCII digits only (`str.isdigit` also takes `²`, which int() refuses)."""
    return s.isascii() and s.isdigit()


def gtin_check_digit(data: str) -> str:
    """GS1 mod-10 check digit of the data digits of a GTIN, GLN or SSCC."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(data)))
    return str((10 - total % 10) % 10)


def gtin_lot_code(gtin14: str, lot: str) -> str:
    return f"(01){gtin14}(10){lot}"


_GTIN_LOT_CODE = re.compile(r"^\(01\)(\d{14})\(10\)(.+)$")


def _valid_gtin14(gtin14: str) -> bool:
    return (len(gtin14) == 14 and _is_digits(gtin14)
            and gtin_check_digit(gtin14[:13]) == gtin14[13])


def split_gtin_lot_code(lot_code: str) -> tuple[str, str] | None:
    """(GTIN-14, batch) of a lot code written as a GS1 element string."""
    m = _GTIN_LOT_CODE.match(lot_code)
    return (m.group(1), m.group(2)) if m else None


# --- EPC URNs ----------------------------------------------------------------------------

_EPC = re.compile(r"^urn:epc:(class|id|idpat):([a-z0-9]+):(.+)$")


def _gtin_from_urn(company: str, item_ref: str) -> str | None:
    if not (_is_digits(company) and _is_digits(item_ref)) or len(company) + len(item_ref) != 13:
        return None
    data13 = item_ref[0] + company + item_ref[1:]
    return data13 + gtin_check_digit(data13)


def _epc_urn(value: str) -> Identifier | str:
    m = _EPC.match(value)
    if not m:
        return f"{value} is not a well-formed EPC URN"
    group, scheme, body = m.groups()
    parts = body.split(".")
    if scheme in ("lgtin", "sgtin") and len(parts) >= 3:
        gtin = _gtin_from_urn(parts[0], parts[1])
        if gtin is None:
            return f"{value}: company prefix and item reference are not 13 digits"
        rest = unquote(".".join(parts[2:]))
        if group == "idpat":
            return Identifier("product", value, product_code=gtin)
        if scheme == "lgtin":
            return _lot_or_reason(value, gtin, rest)
        return Identifier("item", value, product_code=gtin, serial=rest)
    if scheme == "sgtin" and group == "idpat":
        return f"{value} is a pattern without a GTIN"
    if scheme == "sscc":
        return Identifier("container", value, serial=_sscc_digits(parts) or body)
    if scheme == "sgln":
        return Identifier("location", value)
    if scheme == "pgln":
        return Identifier("party", value)
    return f"{value}: EPC scheme {scheme} names no lot, place or party foodtrace traces"


def container_id(ident: Identifier) -> str:
    """One id per SSCC whatever form names it (EPC URN or Digital Link): `(00)` and
    its 18 digits, as the label's barcode reads; other parents as given."""
    serial = ident.serial or ""
    if len(serial) == 18 and _is_digits(serial):
        return f"(00){serial}"
    return ident.value


def _sscc_digits(parts: list[str]) -> str | None:
    if len(parts) != 2 or not all(_is_digits(p) for p in parts) or len("".join(parts)) != 17:
        return None
    data17 = parts[1][0] + parts[0] + parts[1][1:]
    return data17 + gtin_check_digit(data17)


def _lot_or_reason(value: str, gtin: str, lot: str) -> Identifier | str:
    if not lot:
        return f"{value} has an empty lot"
    return Identifier("lot", value, product_code=gtin, lot_code=gtin_lot_code(gtin, lot))


# --- GS1 Digital Link ----------------------------------------------------------------------

_DIGITS = re.compile(r"^[0-9]+$")
# Primary keys of a Digital Link path, each followed by its value.
_DL_KEYS = ("01", "00", "414", "417", "8004")


def _digital_link(value: str) -> Identifier | str:
    try:
        path = urlsplit(value).path
    except ValueError:  # e.g. an unclosed IPv6 host, `https://[::1/01/...`
        return f"{value} is not a well-formed URI"
    segments = [unquote(s) for s in path.split("/") if s]
    at = next((i for i, s in enumerate(segments) if s in _DL_KEYS and i + 1 < len(segments)), None)
    if at is None:
        return f"{value} is a URI but no GS1 Digital Link (no /01/, /00/, /414/ or /417/ key)"
    key, key_value = segments[at], segments[at + 1]
    qualifiers = dict(zip(segments[at + 2 :: 2], segments[at + 3 :: 2], strict=False))
    if key == "00":
        return Identifier("container", value, serial=key_value)
    if key == "414":
        return Identifier("location", value)
    if key == "417":
        return Identifier("party", value)
    if key == "8004":
        return f"{value} is a GIAI (an asset), not a lot"
    if not _DIGITS.match(key_value) or len(key_value) not in (8, 12, 13, 14):
        return f"{value}: {key_value} is not a GTIN"
    gtin = key_value.zfill(14)
    if gtin_check_digit(gtin[:13]) != gtin[13]:
        return f"{value}: GTIN {gtin} has a wrong check digit"
    lot = qualifiers.get("10")
    if lot is not None:
        return _lot_or_reason(value, gtin, lot)
    if "21" in qualifiers:
        return Identifier("item", value, product_code=gtin, serial=qualifiers["21"])
    return Identifier("product", value, product_code=gtin)


# --- GDST and foodtrace's own URNs -------------------------------------------------------------

_GDST = re.compile(r"^urn:gdst:([^:]+):(product|location|party):(.+)$")


def _gdst(value: str) -> Identifier | str:
    m = _GDST.match(value)
    if not m:
        return f"{value} is not a well-formed GDST URN"
    domain, what, rest = m.groups()
    if what == "location":
        return Identifier("location", value)
    if what == "party":
        return Identifier("party", value)
    if rest.startswith("lot:class:"):
        body = rest.removeprefix("lot:class:")
        # {company}.{product}.{lot}: the lot is everything after the second dot
        # (a batch number may hold dots; a GDST company or product reference does not)
        company, _, product_lot = body.partition(".")
        product, _, lot = product_lot.partition(".")
        company_product = f"{company}.{product}" if company and product else ""
        if not company_product or not lot:
            return f"{value}: a GDST lot class is {{company}}.{{product}}.{{lot}}"
        return Identifier("lot", value, product_code=f"urn:gdst:{domain}:product:class:"
                          f"{company_product}", lot_code=value)
    if rest.startswith("class:"):
        return Identifier("product", value, product_code=value)
    if rest.startswith("serial:obj:"):
        return Identifier("item", value, serial=rest.removeprefix("serial:obj:"))
    return f"{value}: GDST product identifier of an unknown form"


FOODTRACE_LOT = "urn:foodtrace:lot:"
FOODTRACE_LOC = "urn:foodtrace:loc:"


def foodtrace_lot_uri(product_code: str, lot_code: str) -> str:
    """The EPCIS class foodtrace writes for a lot (a GS1 Digital Link when it is one)."""
    split = split_gtin_lot_code(lot_code)
    if split is not None and split[0] == product_code and _valid_gtin14(product_code):
        return f"https://id.gs1.org/01/{split[0]}/10/{quote(split[1], safe='')}"
    return f"{FOODTRACE_LOT}{quote(product_code, safe='')}:{quote(lot_code, safe='')}"


def foodtrace_location_uri(location_id: str) -> str:
    if re.match(r"^[a-z][a-z0-9+.-]*:", location_id):
        return location_id  # already a URN or URI
    return f"{FOODTRACE_LOC}{quote(location_id, safe='')}"


def _foodtrace(value: str) -> Identifier | str:
    if value.startswith(FOODTRACE_LOT):
        product, sep, lot = value.removeprefix(FOODTRACE_LOT).partition(":")
        if not sep or not product or not lot:
            return f"{value}: foodtrace lots are {FOODTRACE_LOT}{{product}}:{{lot}}"
        return Identifier("lot", value, product_code=unquote(product), lot_code=unquote(lot))
    if value.startswith(FOODTRACE_LOC):
        loc = unquote(value.removeprefix(FOODTRACE_LOC))
        return Identifier("location", loc) if loc else f"{value} has an empty location id"
    return f"{value}: unknown foodtrace URN"


def parse(value: object) -> Identifier | str:
    """What an identifier names, or why foodtrace cannot read it (a sentence)."""
    if not isinstance(value, str) or not value.strip():
        return "the identifier is missing or not a string"
    value = value.strip()
    if value.startswith("urn:epc:"):
        return _epc_urn(value)
    if value.startswith("urn:gdst:"):
        return _gdst(value)
    if value.startswith("urn:foodtrace:"):
        return _foodtrace(value)
    if value.startswith(("https://", "http://", "/")):
        return _digital_link(value)
    return f"{value} is no EPC URN, GS1 Digital Link or GDST URN"


def with_lot(ident: Identifier, lot: str) -> Identifier:
    """A product class made a lot by the batch its event's ILMD names."""
    if ident.kind != "product" or not lot or ident.product_code is None:
        return ident
    if ident.product_code.startswith("urn:gdst:"):
        domain_part, _, company_product = ident.product_code.partition(":product:class:")
        return Identifier("lot", ident.value, product_code=ident.product_code,
                          lot_code=f"{domain_part}:product:lot:class:{company_product}.{lot}")
    return Identifier("lot", ident.value, product_code=ident.product_code,
                      lot_code=gtin_lot_code(ident.product_code, lot))


def location_id(value: object) -> str | None:
    """The location id foodtrace keeps for a place identifier (foodtrace's own
    `urn:foodtrace:loc:` form back to its id; everything else as written)."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if value.startswith(FOODTRACE_LOC):
        return unquote(value.removeprefix(FOODTRACE_LOC)) or None
    return value
