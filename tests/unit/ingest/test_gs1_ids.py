"""GS1 / GDST identifier parsing (ingest/gs1_ids.py): what an EPC URN, a GS1 Digital
Link, a GDST URN or foodtrace's own URN says about lots, tested on the forms real
EPCIS documents write (tests/data/epcis/, ../shared/vectors/epcis-gs1/), with GTIN and
SSCC check digits recomputed here from the GS1 mod-10 rule rather than trusted, and a
reason string (never an exception) for everything foodtrace cannot read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from foodtrace.ingest.gs1_ids import (
    FOODTRACE_LOC,
    FOODTRACE_LOT,
    Identifier,
    foodtrace_location_uri,
    foodtrace_lot_uri,
    gtin_check_digit,
    gtin_lot_code,
    location_id,
    parse,
    split_gtin_lot_code,
    with_lot,
)
from hypothesis import given
from hypothesis import strategies as st

TESTS = Path(__file__).resolve().parents[2]
EPCIS_DATA = TESTS / "data" / "epcis"
SHARED_GS1 = TESTS.parent.parent / "shared" / "vectors" / "epcis-gs1"
KINDS = {"lot", "product", "item", "container", "location", "party"}


# --- an independent GS1 mod-10 -----------------------------------------------------------


def _valid_mod10(number: str) -> bool:
    """GS1 General Specifications 7.9: weights 3 and 1 alternate leftwards from the
    digit before the check digit; the weighted sum incl. the check digit is 0 mod 10."""
    weights = [1 if (len(number) - 1 - i) % 2 == 0 else 3 for i in range(len(number))]
    return sum(int(d) * w for d, w in zip(number, weights, strict=True)) % 10 == 0


def _complete(data: str) -> str:
    """`data` with the one check digit that makes it valid (found by trying all ten)."""
    (full,) = [data + c for c in "0123456789" if _valid_mod10(data + c)]
    return full


def _urn_gtin(company: str, item_ref: str) -> str:
    """GTIN-14 of an SGTIN/LGTIN URN (TDS 2.x 6.3.1): indicator digit first."""
    return _complete(item_ref[0] + company + item_ref[1:])


def _summary(ident: Identifier | str) -> tuple[Any, ...] | str:
    if isinstance(ident, str):
        return ident
    return (ident.kind, ident.product_code, ident.lot_code, ident.serial)


# GTINs as printed in the real documents' Digital Links (written by GS1 / OpenEPCIS, not
# derived here) and the GS1 Digital Link standard's example GTIN.
KNOWN_GOOD_GTINS = [
    "04012345123456",  # the GS1 example EAN-13 4012345123456, padded
    "00614141777778",
    "04012345666663",
    "04012345987652",
    "70614141123451",
    "09521141012345",
    "04012345999990",
    "09506000134352",
    "10614141073464",
]


@pytest.mark.parametrize("gtin", KNOWN_GOOD_GTINS)
def test_known_good_gtins_are_valid(gtin: str) -> None:
    assert _valid_mod10(gtin)
    assert gtin_check_digit(gtin[:13]) == gtin[13]


@pytest.mark.parametrize("gtin", ["04012345123452", "04012345123457", "00614141777770",
                                  "70614141123450"])
def test_known_bad_gtins_are_invalid(gtin: str) -> None:
    assert not _valid_mod10(gtin)
    assert gtin_check_digit(gtin[:13]) != gtin[13]


def test_the_example_lgtin_is_gtin_04012345123456() -> None:
    # urn:epc:class:lgtin:4012345.012345.998877 (EPCIS 2.0 example 9.6.2): data digits
    # 0 4012345 12345 -> weighted sum 64 -> check digit 6. ...52 would be wrong.
    assert _urn_gtin("4012345", "012345") == "04012345123456"
    assert not _valid_mod10("04012345123452")


@given(st.sampled_from([7, 11, 12, 13, 17]).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)))
def test_gtin_check_digit_agrees_with_the_reference(data: str) -> None:
    """GTIN-8/12/13/14, GLN and SSCC data digits."""
    assert data + gtin_check_digit(data) == _complete(data)


# --- EPC URNs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urn", "company", "item_ref", "gtin", "lot"),
    [
        ("urn:epc:class:lgtin:4012345.012345.998877", "4012345", "012345", "04012345123456",
         "998877"),
        ("urn:epc:class:lgtin:0614141.077777.987", "0614141", "077777", "00614141777778", "987"),
        ("urn:epc:class:lgtin:4023333.002000.2019-10-07", "4023333", "002000", "04023333020008",
         "2019-10-07"),
        ("urn:epc:class:lgtin:4054739.099914.20160711", "4054739", "099914", "04054739999148",
         "20160711"),
        ("urn:epc:class:lgtin:4012345.022222.87545GHGH", "4012345", "022222", "04012345222227",
         "87545GHGH"),
        # a 6-digit company prefix: indicator 1 then 952001 then 012345
        ("urn:epc:class:lgtin:952001.1012345.L1", "952001", "1012345", "19520010123455", "L1"),
        # a 12-digit company prefix, 1-digit item reference (indicator only)
        ("urn:epc:class:lgtin:061414100003.0.B7", "061414100003", "0", "00614141000036", "B7"),
    ],
)
def test_lgtin_urn_is_a_lot(urn: str, company: str, item_ref: str, gtin: str, lot: str) -> None:
    assert _urn_gtin(company, item_ref) == gtin
    assert parse(urn) == Identifier("lot", urn, product_code=gtin,
                                    lot_code=f"(01){gtin}(10){lot}")


@pytest.mark.parametrize(
    ("urn", "lot"),
    [
        ("urn:epc:class:lgtin:4012345.012345.AB%2F12", "AB/12"),
        ("urn:epc:class:lgtin:4012345.012345.100%25", "100%"),
        ("urn:epc:class:lgtin:4012345.012345.GZ%20%2311", "GZ #11"),
        ("urn:epc:class:lgtin:4012345.012345.%3C1%3E%26%3F%22", '<1>&?"'),
        ("urn:epc:class:lgtin:4012345.012345.A.B.C", "A.B.C"),  # dots stay in the lot
    ],
)
def test_lgtin_urn_lot_is_percent_decoded(urn: str, lot: str) -> None:
    ident = parse(urn)
    assert isinstance(ident, Identifier) and ident.kind == "lot"
    assert ident.lot_code == f"(01)04012345123456(10){lot}"
    assert ident.value == urn  # as written


@pytest.mark.parametrize(
    ("urn", "gtin", "serial"),
    [
        ("urn:epc:id:sgtin:0614141.107346.2017", "10614141073464", "2017"),
        ("urn:epc:id:sgtin:4012345.011122.25", "04012345111224", "25"),
        ("urn:epc:id:sgtin:4000001.065432.99886655", "04000001654321", "99886655"),
        ("urn:epc:id:sgtin:952001.1012345.22222223333", "19520010123455", "22222223333"),
        ("urn:epc:id:sgtin:4012345.033333.AGHFG", "04012345333336", "AGHFG"),
        ("urn:epc:id:sgtin:0614141.107346.%2F20%2517", "10614141073464", "/20%17"),
    ],
)
def test_sgtin_urn_is_an_item(urn: str, gtin: str, serial: str) -> None:
    company, item_ref = urn.split(":")[-1].split(".")[:2]
    assert _urn_gtin(company, item_ref) == gtin
    assert parse(urn) == Identifier("item", urn, product_code=gtin, serial=serial)


@pytest.mark.parametrize(
    ("urn", "gtin"),
    [
        ("urn:epc:idpat:sgtin:4012345.098765.*", "04012345987652"),
        ("urn:epc:idpat:sgtin:4012345.066666.*", "04012345666663"),
        ("urn:epc:idpat:sgtin:4054739.099914.*", "04054739999148"),
    ],
)
def test_sgtin_pattern_is_a_product(urn: str, gtin: str) -> None:
    assert parse(urn) == Identifier("product", urn, product_code=gtin)


@pytest.mark.parametrize(
    ("urn", "sscc"),
    [
        # EPCIS 2.0 example 9.6.3; extension digit 1 goes first
        ("urn:epc:id:sscc:0614141.1234567890", "106141412345678908"),
        ("urn:epc:id:sscc:4012345.0111111111", "040123451111111110"),
        ("urn:epc:id:sscc:4012345.0000000333", "040123450000003338"),
    ],
)
def test_sscc_urn_is_a_container_with_the_18_digit_sscc(urn: str, sscc: str) -> None:
    company, ref = urn.split(":")[-1].split(".")
    assert _complete(ref[0] + company + ref[1:]) == sscc
    assert parse(urn) == Identifier("container", urn, serial=sscc)


def test_sscc_urn_and_digital_link_name_the_same_container() -> None:
    # both forms are in openepcis/epcisDocWithAllGS1Keys.json
    urn = parse("urn:epc:id:sscc:4012345.0000000333")
    link = parse("https://id.gs1.org/00/040123450000003338")
    assert isinstance(urn, Identifier) and isinstance(link, Identifier)
    assert urn.kind == link.kind == "container"
    assert urn.serial == link.serial == "040123450000003338"


def test_malformed_sscc_urn_is_still_a_container_as_written() -> None:
    # GDST documents write SSCCs with a wrong digit count; no check digit is invented
    assert parse("urn:epc:id:sscc:08600031303.0003") == Identifier(
        "container", "urn:epc:id:sscc:08600031303.0003", serial="08600031303.0003")


@pytest.mark.parametrize(
    ("urn", "kind"),
    [
        ("urn:epc:id:sgln:0614141.07346.1234", "location"),
        ("urn:epc:id:sgln:4012345.00001.0", "location"),
        ("urn:epc:id:sgln:08600031303.1.0", "location"),
        ("urn:epc:id:pgln:4012345.00225", "party"),
        ("urn:epc:id:pgln:0614141.00777", "party"),
    ],
)
def test_sgln_is_a_location_and_pgln_a_party(urn: str, kind: str) -> None:
    assert parse(urn) == Identifier(kind, urn)  # type: ignore[arg-type]


def test_surrounding_whitespace_is_stripped() -> None:
    assert parse("  urn:epc:id:sgln:0614141.07346.1234\n") == Identifier(
        "location", "urn:epc:id:sgln:0614141.07346.1234")


@pytest.mark.parametrize(
    "value",
    [
        "urn:epc:class:lgtin:4012345.012345.",  # empty lot
        "urn:epc:class:lgtin:4012345.012345",  # no lot at all
        "urn:epc:class:lgtin:401234.012345.1",  # 12 digits
        "urn:epc:id:sgtin:4012345.0123456.1",  # 14 digits
        "urn:epc:class:lgtin:4012345.01234x.1",
        "urn:epc:class:lgtin:401234\u00b2.012345.1",  # `²` passes str.isdigit, not int()
        "urn:epc:id:sgtin:\u0664012345.012345.1",  # Arabic-Indic digit
        "urn:epc:idpat:sgtin:4012345.*.*",  # a pattern without a GTIN
        "urn:epc:idpat:sgtin:*.*.*",
        "urn:epc:",
        "urn:epc:id:",
        "urn:epc:id:sgtin",
        "urn:epc:id:SGTIN:0614141.107346.1",
        "urn:epc:tag:sgtin-96:3.0614141.107346.1",  # a tag URI, not a pure identity
        "urn:epc:id:grai:4012345.55555.987",
        "urn:epc:id:giai:4000001.12345",
        "urn:epc:idpat:grai:4012345.66666.*",
    ],
)
def test_malformed_or_untraced_epc_urn_gives_a_reason(value: str) -> None:
    reason = parse(value)
    assert isinstance(reason, str) and value in reason


# --- GS1 Digital Link --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://id.gs1.org/01/04012345123456/10/998877",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("http://id.gs1.org/01/04012345123456/10/998877",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("https://id.gs1.de/01/04012345123456/10/998877",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("https://brand.example.com/products/eu/01/04012345123456/10/998877",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("/01/04012345123456/10/998877",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("https://id.gs1.org/01/04012345123456/10/AB%2F12%20%23x",
         ("lot", "04012345123456", "(01)04012345123456(10)AB/12 #x", None)),
        # lot and serial: the lot is what foodtrace traces
        ("https://id.gs1.org/01/04012345123456/10/998877/21/1",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("https://id.gs1.org/01/04012345123456/22/2A/10/998877",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("https://id.gs1.org/01/70614141123451/21/2017",
         ("item", "70614141123451", None, "2017")),
        ("https://id.gs1.de/01/04012345999990/21/XYZ-1234",
         ("item", "04012345999990", None, "XYZ-1234")),
        ("https://id.gs1.org/01/04012345123456", ("product", "04012345123456", None, None)),
        ("/01/09506000134352", ("product", "09506000134352", None, None)),
        # GTIN-13, -12 and -8 are zero-padded to GTIN-14
        ("https://id.gs1.org/01/4012345123456/10/L1",
         ("lot", "04012345123456", "(01)04012345123456(10)L1", None)),
        ("https://id.gs1.org/01/614141000036/10/L1",
         ("lot", "00614141000036", "(01)00614141000036(10)L1", None)),
        ("https://id.gs1.org/01/96385074", ("product", "00000096385074", None, None)),
        # query strings and fragments are not part of the key
        ("https://id.gs1.org/01/04012345123456/10/998877?linkType=gs1:pip&17=261231",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("https://id.gs1.org/01/04012345123456?10=998877",
         ("product", "04012345123456", None, None)),
        ("/01/04012345123456/10/998877?linkType=all#top",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("/01/04012345123456/10/998877#top",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("https://id.gs1.org/01/04012345123456/10/998877#top",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("https://id.gs1.org/00/106141412345678908",
         ("container", None, None, "106141412345678908")),
        ("https://id.gs1.org/414/9520123456788", ("location", None, None, None)),
        ("https://id.gs1.org/414/9520123456788/254/32a%2Fb", ("location", None, None, None)),
        ("https://id.example.com/414/4012345000054", ("location", None, None, None)),
        ("https://id.gs1.org/417/9520123456788", ("party", None, None, None)),
    ],
)
def test_digital_link(uri: str, expected: tuple[Any, ...]) -> None:
    ident = parse(uri)
    assert _summary(ident) == expected
    assert isinstance(ident, Identifier) and ident.value == uri
    if ident.product_code is not None:
        assert _valid_mod10(ident.product_code)


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("https://id.gs1.org/01/04012345123452/10/998877", "check digit"),
        ("https://id.gs1.org/01/4012345123457", "check digit"),
        ("https://id.gs1.org/01/0401234512345/10/1", "check digit"),  # 13 digits, not a GTIN-13
        ("https://id.gs1.org/01/ABC/10/1", "not a GTIN"),
        ("https://id.gs1.org/01/04012345123/10/1", "not a GTIN"),  # 11 digits
        ("https://id.gs1.org/01/040123451234567", "not a GTIN"),  # 15 digits
        ("https://id.gs1.org/8004/0614141ABC", "GIAI"),
        ("https://id.example.com/8003/030013450007718765", "no GS1 Digital Link"),
        ("https://example.com/", "no GS1 Digital Link"),
        ("https://example.com/steps/foo", "no GS1 Digital Link"),
        ("https://example.com/01", "no GS1 Digital Link"),  # a key without a value
        ("http://", "no GS1 Digital Link"),
        ("/", "no GS1 Digital Link"),
        ("https://[::1/01/04012345123456", "not a well-formed URI"),
    ],
)
def test_digital_link_without_a_readable_key_gives_a_reason(uri: str, words: str) -> None:
    reason = parse(uri)
    assert isinstance(reason, str)
    assert uri in reason and words in reason


# --- GDST URNs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("urn", "expected"),
    [
        ("urn:gdst:example.org:product:lot:class:processor.2u.v1-0122-2022",
         ("lot", "urn:gdst:example.org:product:class:processor.2u",
          "urn:gdst:example.org:product:lot:class:processor.2u.v1-0122-2022", None)),
        ("urn:gdst:production.traceregister.com:product:lot:class:tr32768.12825-i.L-7",
         ("lot", "urn:gdst:production.traceregister.com:product:class:tr32768.12825-i",
          "urn:gdst:production.traceregister.com:product:lot:class:tr32768.12825-i.L-7", None)),
        # a batch number with dots: the lot is everything after the product reference
        ("urn:gdst:example.org:product:lot:class:co.prod.2024.03",
         ("lot", "urn:gdst:example.org:product:class:co.prod",
          "urn:gdst:example.org:product:lot:class:co.prod.2024.03", None)),
        ("urn:gdst:example.org:product:class:processor.2u",
         ("product", "urn:gdst:example.org:product:class:processor.2u", None, None)),
        # kept as written (a percent-encoded product code, from OpenTraceability's tests)
        ("urn:gdst:example.org:product:class:company.pr%c3%b3d%c3%bact%c3%a9",
         ("product", "urn:gdst:example.org:product:class:company.pr%c3%b3d%c3%bact%c3%a9",
          None, None)),
        ("urn:gdst:example.org:product:serial:obj:processor.2u.123",
         ("item", None, None, "processor.2u.123")),
        ("urn:gdst:example.org:location:loc:processor.plant1", ("location", None, None, None)),
        ("urn:gdst:traceregister.com:location:loc:0-v.b1555670139",
         ("location", None, None, None)),
        ("urn:gdst:example.org:party:processor.1", ("party", None, None, None)),
        ("urn:gdst:example.org:party:Fisherman01.1", ("party", None, None, None)),
    ],
)
def test_gdst_urn(urn: str, expected: tuple[Any, ...]) -> None:
    ident = parse(urn)
    assert _summary(ident) == expected
    assert isinstance(ident, Identifier) and ident.value == urn


@pytest.mark.parametrize(
    "urn",
    [
        "urn:gdst:example.org:product:lot:class:nodots",
        "urn:gdst:example.org:product:lot:class:co.prod",  # no lot after the product
        "urn:gdst:example.org:product:lot:class:.v1",
        "urn:gdst:example.org:product:lot:class:processor.2u.",
        "urn:gdst:example.org:product:lot:class:",
        "urn:gdst:example.org:product:foo:bar",
        "urn:gdst:example.org:thing:x",
        "urn:gdst:example.org",
        "urn:gdst:",
        "urn:gdst:bizStep:landing",  # a business step, not an identifier
    ],
)
def test_malformed_gdst_urn_gives_a_reason(urn: str) -> None:
    reason = parse(urn)
    assert isinstance(reason, str) and urn in reason


# --- foodtrace's own URNs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("product_code", "lot_code"),
    [
        ("04012345123456", "(01)04012345123456(10)998877"),
        ("04012345123456", "(01)04012345123456(10)GZ-2026/11 #3"),
        ("00614141777778", "(01)00614141777778(10)100%?x=1"),
        ("veg-choysum", "GZ-2026/11 #3"),
        ("veg:choysum", "lot:1"),
        ("菜心", "批次-2026/11"),
        ("veg-choysum", " L1 "),
        ("04012345123456", "998877"),  # a GTIN with a lot code that is no element string
        ("4012345123456", "(01)04012345123456(10)X"),  # product is not that GTIN-14
        ("04012345123452", "(01)04012345123452(10)X"),  # wrong check digit: no Digital Link
        ("urn:gdst:example.org:product:class:processor.2u",
         "urn:gdst:example.org:product:lot:class:processor.2u.v1-0122-2022"),
    ],
)
def test_foodtrace_lot_uri_round_trips(product_code: str, lot_code: str) -> None:
    uri = foodtrace_lot_uri(product_code, lot_code)
    assert not any(c in uri for c in " #?\n"), uri
    ident = parse(uri)
    assert isinstance(ident, Identifier), ident
    assert (ident.kind, ident.product_code, ident.lot_code) == ("lot", product_code, lot_code)


@pytest.mark.parametrize(
    ("product_code", "lot_code", "uri"),
    [
        ("04012345123456", "(01)04012345123456(10)998877",
         "https://id.gs1.org/01/04012345123456/10/998877"),
        ("04012345123456", "(01)04012345123456(10)GZ-2026/11 #3",
         "https://id.gs1.org/01/04012345123456/10/GZ-2026%2F11%20%233"),
        ("veg-choysum", "GZ-2026/11 #3",
         "urn:foodtrace:lot:veg-choysum:GZ-2026%2F11%20%233"),
        ("veg:choysum", "lot:1", "urn:foodtrace:lot:veg%3Achoysum:lot%3A1"),
        ("04012345123452", "(01)04012345123452(10)X",
         "urn:foodtrace:lot:04012345123452:%2801%2904012345123452%2810%29X"),
    ],
)
def test_foodtrace_lot_uri_form(product_code: str, lot_code: str, uri: str) -> None:
    assert foodtrace_lot_uri(product_code, lot_code) == uri


def test_foodtrace_lot_uri_of_a_gtin_lot_is_the_same_lot_as_its_lgtin() -> None:
    ident = parse("urn:epc:class:lgtin:4012345.012345.998877")
    assert isinstance(ident, Identifier)
    assert ident.product_code is not None and ident.lot_code is not None
    again = parse(foodtrace_lot_uri(ident.product_code, ident.lot_code))
    assert isinstance(again, Identifier)
    assert (again.product_code, again.lot_code) == (ident.product_code, ident.lot_code)


@pytest.mark.parametrize(
    "loc",
    ["farm-zq-01", "packer-gz-01", "packer gz/01 #2", "市场-01", "GZ:market", "100%", " x "],
)
def test_foodtrace_location_uri_round_trips(loc: str) -> None:
    uri = foodtrace_location_uri(loc)
    assert uri.startswith(FOODTRACE_LOC)
    assert location_id(uri) == loc
    assert parse(uri) == Identifier("location", loc)


@pytest.mark.parametrize(
    "loc",
    ["urn:epc:id:sgln:4012345.00001.0", "https://id.gs1.org/414/9520123456788",
     "urn:gdst:example.org:location:loc:processor.plant1", "geo:22.54,114.05"],
)
def test_foodtrace_location_uri_keeps_uris(loc: str) -> None:
    assert foodtrace_location_uri(loc) == loc
    assert location_id(foodtrace_location_uri(loc)) == loc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("urn:foodtrace:loc:farm-zq-01", "farm-zq-01"),
        ("urn:foodtrace:loc:packer%20gz%2F01", "packer gz/01"),
        ("  urn:epc:id:sgln:4012345.00001.0 ", "urn:epc:id:sgln:4012345.00001.0"),
        ("geo:0,0", "geo:0,0"),
        ("urn:foodtrace:loc:", None),
        ("", None),
        ("   ", None),
        (None, None),
        (42, None),
    ],
)
def test_location_id(value: object, expected: str | None) -> None:
    assert location_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "urn:foodtrace:lot:veg-choysum",
        "urn:foodtrace:lot:veg-choysum:",
        "urn:foodtrace:lot::L1",
        "urn:foodtrace:lot:",
        "urn:foodtrace:loc:",
        "urn:foodtrace:product:veg",
    ],
)
def test_malformed_foodtrace_urn_gives_a_reason(value: str) -> None:
    reason = parse(value)
    assert isinstance(reason, str) and value in reason


def test_foodtrace_urn_prefixes() -> None:
    assert FOODTRACE_LOT == "urn:foodtrace:lot:"
    assert FOODTRACE_LOC == "urn:foodtrace:loc:"


# --- with_lot, split_gtin_lot_code, bad input --------------------------------------------


@pytest.mark.parametrize(
    ("value", "lot", "lot_code"),
    [
        ("urn:epc:idpat:sgtin:4012345.098765.*", "L1", "(01)04012345987652(10)L1"),
        ("https://id.gs1.org/01/04012345666663", "2026/11", "(01)04012345666663(10)2026/11"),
        ("urn:gdst:example.org:product:class:processor.2u", "v1-0122-2022",
         "urn:gdst:example.org:product:lot:class:processor.2u.v1-0122-2022"),
    ],
)
def test_with_lot_makes_a_product_a_lot(value: str, lot: str, lot_code: str) -> None:
    product = parse(value)
    assert isinstance(product, Identifier) and product.kind == "product"
    made = with_lot(product, lot)
    assert made == Identifier("lot", value, product_code=product.product_code,
                              lot_code=lot_code)


@pytest.mark.parametrize(
    ("product", "lot"),
    [
        ("urn:epc:idpat:sgtin:4012345.098765.*", "urn:epc:class:lgtin:4012345.098765.L1"),
        ("urn:gdst:example.org:product:class:processor.2u",
         "urn:gdst:example.org:product:lot:class:processor.2u.L1"),
    ],
)
def test_with_lot_agrees_with_the_lot_identifier(product: str, lot: str) -> None:
    """ILMD cbvmda:lotNumber on a product class names the lot its lot class would."""
    made, direct = with_lot(parse(product), "L1"), parse(lot)  # type: ignore[arg-type]
    assert isinstance(direct, Identifier)
    assert (made.product_code, made.lot_code) == (direct.product_code, direct.lot_code)


@pytest.mark.parametrize(
    ("ident", "lot"),
    [
        (Identifier("lot", "urn:epc:class:lgtin:4012345.012345.998877",
                    product_code="04012345123456",
                    lot_code="(01)04012345123456(10)998877"), "OTHER"),
        (Identifier("item", "urn:epc:id:sgtin:0614141.107346.2017",
                    product_code="10614141073464", serial="2017"), "L1"),
        (Identifier("location", "urn:epc:id:sgln:4012345.00001.0"), "L1"),
        (Identifier("container", "urn:epc:id:sscc:0614141.1234567890",
                    serial="106141412345678908"), "L1"),
        (Identifier("product", "urn:epc:idpat:sgtin:4012345.098765.*",
                    product_code="04012345987652"), ""),
        (Identifier("product", "urn:example:product"), "L1"),  # no product code
    ],
)
def test_with_lot_no_op(ident: Identifier, lot: str) -> None:
    assert with_lot(ident, lot) is ident


@pytest.mark.parametrize(
    ("lot_code", "expected"),
    [
        ("(01)04012345123456(10)998877", ("04012345123456", "998877")),
        ("(01)04012345123456(10)GZ/11 #3", ("04012345123456", "GZ/11 #3")),
        ("(01)04012345123456(10)A(10)B", ("04012345123456", "A(10)B")),
        ("(01)0401234512345(10)X", None),  # 13 digits
        ("(01)04012345123456(10)", None),
        ("(01)04012345123456(21)S1", None),
        ("0104012345123456109988", None),  # no parentheses
        ("veg-choysum/L1", None),
        ("", None),
    ],
)
def test_split_gtin_lot_code(lot_code: str, expected: tuple[str, str] | None) -> None:
    assert split_gtin_lot_code(lot_code) == expected


@pytest.mark.parametrize(("gtin", "lot"), [("04012345123456", "998877"),
                                           ("00614141777778", "(10)x")])
def test_gtin_lot_code_splits_back(gtin: str, lot: str) -> None:
    assert split_gtin_lot_code(gtin_lot_code(gtin, lot)) == (gtin, lot)


@pytest.mark.parametrize(
    "value", [None, 12, 1.5, b"urn:epc:id:sgln:4012345.00001.0", ["x"], {}, "", "   \t"])
def test_missing_or_non_string_gives_a_reason(value: object) -> None:
    assert parse(value) == "the identifier is missing or not a string"


@pytest.mark.parametrize(
    "value",
    ["geo:0,0", "urn:uuid:2f2c8c2b-3a66-4e4c-9f6e-1b6d2c1c1c1c", "shipping", "04012345123456",
     "HTTPS://ID.GS1.ORG/01/04012345123456", "ftp://id.gs1.org/01/04012345123456"],
)
def test_unknown_schemes_give_a_reason(value: str) -> None:
    reason = parse(value)
    assert isinstance(reason, str) and value in reason


@pytest.mark.parametrize(
    "value",
    ["urn:epc:id:sscc:061414\u00b2.1234567890", "https://id.gs1.org/01/0401234512345\u00b2",
     "https://id.gs1.org/01/\u0660\u0664\u0660\u0661\u0662\u0663\u0664\u0665\u0661\u0662"
     "\u0663\u0664\u0665\u0666", "urn:epc:id:sgtin:..", "urn:gdst:x:product:lot:class:...",
     "https://id.gs1.org/01//10//21/", "/01/%ZZ/10/%", "https://[/01/x", "http://a:b@[x]/01/1"],
)
def test_odd_input_never_raises(value: str) -> None:
    assert isinstance(parse(value), Identifier | str)


# --- every identifier in the real documents ------------------------------------------------

_LIST_KEYS = {"epcList", "childEPCs", "inputEPCList", "outputEPCList"}
_QUANTITY_KEYS = {"quantityList", "childQuantityList", "inputQuantityList",
                  "outputQuantityList"}


def _identifiers(node: Any, found: set[str]) -> None:
    """epcClass, EPC lists, parentID, bizLocation/readPoint id, source, destination."""
    if isinstance(node, list):
        for x in node:
            _identifiers(x, found)
        return
    if not isinstance(node, dict):
        return
    for key, v in node.items():
        if key in _LIST_KEYS and isinstance(v, list):
            found.update(x for x in v if isinstance(x, str))
        elif key in _QUANTITY_KEYS and isinstance(v, list):
            found.update(q["epcClass"] for q in v if isinstance(q, dict) and "epcClass" in q)
        elif key in ("epcClass", "parentID") and isinstance(v, str):
            found.add(v)
        elif key in ("bizLocation", "readPoint") and isinstance(v, dict) and "id" in v:
            found.add(v["id"])
        elif key in ("sourceList", "destinationList") and isinstance(v, list):
            name = "source" if key == "sourceList" else "destination"
            found.update(x[name] for x in v if isinstance(x, dict) and name in x)
        _identifiers(v, found)


def _documents() -> list[Path]:
    paths = [p for p in sorted(EPCIS_DATA.rglob("*.json*")) if p.name != "inventory.json"]
    return paths + sorted(SHARED_GS1.glob("*.jsonld"))


def _real_values() -> set[str]:
    found: set[str] = set()
    for path in _documents():
        _identifiers(json.loads(path.read_text(encoding="utf-8-sig")), found)
    return found


REAL_VALUES = _real_values()


def test_every_identifier_in_the_real_documents_parses() -> None:
    assert len(REAL_VALUES) >= 150  # the walk found the documents' identifiers
    kinds = set()
    for value in sorted(REAL_VALUES):
        ident = parse(value)
        assert isinstance(ident, Identifier | str), value
        if isinstance(ident, str):
            assert value in ident
            continue
        kinds.add(ident.kind)
        assert ident.kind in KINDS and ident.value == value
        if ident.kind == "lot":
            assert ident.product_code and ident.lot_code, value
        if ident.product_code is not None and not ident.product_code.startswith("urn:"):
            assert len(ident.product_code) == 14 and _valid_mod10(ident.product_code), value
        if ident.lot_code is not None and not ident.lot_code.startswith("urn:"):
            assert split_gtin_lot_code(ident.lot_code) is not None, value
    assert kinds == KINDS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("urn:epc:class:lgtin:4012345.012345.998877",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("https://id.gs1.org/01/04012345123456/10/998877",
         ("lot", "04012345123456", "(01)04012345123456(10)998877", None)),
        ("urn:epc:class:lgtin:0614141.077777.987",
         ("lot", "00614141777778", "(01)00614141777778(10)987", None)),
        ("https://id.gs1.org/01/00614141777778/10/987",
         ("lot", "00614141777778", "(01)00614141777778(10)987", None)),
        ("urn:epc:class:lgtin:4023333.002000.2019-10-07",
         ("lot", "04023333020008", "(01)04023333020008(10)2019-10-07", None)),
        ("https://id.gs1.org/01/70614141123451/10/998877",
         ("lot", "70614141123451", "(01)70614141123451(10)998877", None)),
        ("urn:epc:id:sgtin:0614141.107346.2017", ("item", "10614141073464", None, "2017")),
        ("urn:epc:id:sgtin:952001.1012345.22222223333",
         ("item", "19520010123455", None, "22222223333")),
        ("https://id.gs1.org/01/70614141123451/21/2017",
         ("item", "70614141123451", None, "2017")),
        ("urn:epc:idpat:sgtin:4012345.066666.*", ("product", "04012345666663", None, None)),
        ("https://id.gs1.org/01/04012345666663", ("product", "04012345666663", None, None)),
        ("urn:epc:id:sscc:0614141.1234567890", ("container", None, None, "106141412345678908")),
        ("https://id.gs1.org/00/040123450000003338",
         ("container", None, None, "040123450000003338")),
        ("urn:epc:id:sscc:08600031303.0003", ("container", None, None, "08600031303.0003")),
        ("urn:gdst:traceregister.com:product:lot:class:tr28402.0tuna01.lot-02072024",
         ("lot", "urn:gdst:traceregister.com:product:class:tr28402.0tuna01",
          "urn:gdst:traceregister.com:product:lot:class:tr28402.0tuna01.lot-02072024", None)),
        ("urn:gdst:example.org:product:lot:class:processor.2.v1-0122-2022",
         ("lot", "urn:gdst:example.org:product:class:processor.2",
          "urn:gdst:example.org:product:lot:class:processor.2.v1-0122-2022", None)),
        ("urn:gdst:example.org:product:class:fisherman01.tuna",
         ("product", "urn:gdst:example.org:product:class:fisherman01.tuna", None, None)),
        ("urn:gdst:example.org:location:loc:processor.plant1", ("location", None, None, None)),
        ("urn:epc:id:sgln:0614141.07346.1234", ("location", None, None, None)),
        ("https://id.example.com/414/4012345000054", ("location", None, None, None)),
        ("urn:gdst:example.org:party:fishfarm.1", ("party", None, None, None)),
        ("urn:epc:id:pgln:4012345.00225", ("party", None, None, None)),
    ],
)
def test_real_identifier(value: str, expected: tuple[Any, ...]) -> None:
    assert value in REAL_VALUES
    assert _summary(parse(value)) == expected


@pytest.mark.parametrize(
    "value",
    ["urn:epc:id:giai:4000001.12345", "urn:epc:id:grai:4012345.55555.98765",
     "urn:epc:id:gsrn:4012345.9876540000", "https://id.example.com/8003/030013450007718765",
     "geo:0,0", "geo:-34.3232,1.232"],
)
def test_real_identifier_foodtrace_does_not_trace(value: str) -> None:
    assert value in REAL_VALUES
    reason = parse(value)
    assert isinstance(reason, str) and value in reason
