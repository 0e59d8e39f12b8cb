"""CBV 2.0 and GDST vocabulary, and which FSMA 204 CTE an EPCIS event is (pure).

Codes are read as bare words (`shipping`), CURIEs (`cbv:BizStep-shipping`,
`gs1:BizStep-shipping`), CBV 1.x URNs (`urn:epcglobal:cbv:bizstep:shipping`) or
CBV 2.0 URIs (`https://ref.gs1.org/cbv/BizStep-shipping`). GDST 1.2 business steps
are URNs (`urn:gdst:bizStep:landing`). Any other URI is a private extension and is
not guessed at.

Which CTE an event is follows the GS1 US FSMA 204 guideline (../shared/domain/
fsma204.md) and GDST 1.2, and needs evidence:

| event                                  | CTE                                   |
|----------------------------------------|---------------------------------------|
| ObjectEvent commissioning              | harvesting                            |
| ObjectEvent storing                    | cooling                               |
| ObjectEvent ADD packing                | initial_packing                       |
| ObjectEvent ADD receiving, seafood     | first_receiving (21 CFR 1.1335)       |
| ObjectEvent ADD receiving, other food  | receiving (ADD only assigns ids)      |
| ObjectEvent OBSERVE receiving          | receiving                             |
| ObjectEvent shipping                   | shipping                              |
| ObjectEvent retail_selling             | sale                                  |
| GDST fishingEvent (ADD)                | harvesting at the vessel              |
| GDST farmHarvest ObjectEvent           | harvesting at the farm (aquaculture)  |
| GDST landing                           | first_receiving; receiving when the   |
|                                        | catch is already a lot in the document|
| TransformationEvent (any bizStep, incl.| transformation (inputs -> outputs:    |
| GDST farmHarvest, feeding, processing) | keeps the feed and broodstock lineage)|

Seafood evidence: a GDST step, catch information in the ILMD (vessel, catch
area, fishing gear), or a GDST product URN. Everything else (inspecting,
sensor_reporting, hatching, transshipment, holding, ...) is no CTE: the event
is kept with its document and not used.
"""

from __future__ import annotations

from typing import Any

_CBV_NAMES = {"bizstep": "BizStep", "btt": "BTT", "sdt": "SDT", "disp": "Disp", "er": "ER"}


def _prefixes(urn_name: str, uri_name: str) -> tuple[str, ...]:
    return (
        f"urn:epcglobal:cbv:{urn_name}:",
        f"https://ref.gs1.org/cbv/{uri_name}-",
        f"http://ref.gs1.org/cbv/{uri_name}-",
        f"https://gs1.org/voc/{uri_name}-",
        f"http://gs1.org/voc/{uri_name}-",
        f"gs1:{uri_name}-",
        f"cbv:{uri_name}-",
    )


_VOCABULARIES = {name: _prefixes(name, uri) for name, uri in _CBV_NAMES.items()}
GDST_BIZSTEP = "urn:gdst:bizStep:"


def term(value: object, vocabulary: str) -> str | None:
    """The bare CBV word of a code given as word, CURIE, URN or URI; GDST business
    steps as `gdst:{step}`; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    if ":" not in value and "/" not in value:
        return value
    if vocabulary == "bizstep" and value.lower().startswith(GDST_BIZSTEP.lower()):
        step = value[len(GDST_BIZSTEP) :]
        return f"gdst:{step}" if step else None
    for prefix in _VOCABULARIES[vocabulary]:
        if value.startswith(prefix) and len(value) > len(prefix):
            return value[len(prefix) :]
    return None


# ObjectEvent bizSteps that are a CTE whatever the action.
_OBJECT_STEPS: dict[str, str] = {
    "commissioning": "harvesting",
    "storing": "cooling",
    "shipping": "shipping",
    "retail_selling": "sale",
    "gdst:fishingEvent": "harvesting",
    "gdst:farmHarvest": "harvesting",  # an aquaculture harvest recorded as an ObjectEvent
}
MAPPED_STEPS: tuple[str, ...] = (*_OBJECT_STEPS, "packing", "receiving", "gdst:landing")

# ILMD keys (local names, any prefix) that say the product was caught or farmed fish.
SEAFOOD_ILMD = frozenset({
    "vesselCatchInformationList", "vesselCatchInformation", "catchArea", "fishingGearTypeCode",
    "vesselName", "vesselID", "vesselFlagState", "aquacultureMethod",
    "productionMethodForFishAndSeafoodCode",
})


def local_name(key: str) -> str:
    """`cbvmda:lotNumber` -> `lotNumber`, `https://example.org/ns#x` -> `x`."""
    for sep in ("#", "/", ":"):
        if sep in key:
            key = key.rsplit(sep, 1)[1]
    return key


def seafood_evidence(event: dict[str, Any], step: str | None) -> str | None:
    """Why this event is about seafood, or None."""
    if step is not None and step.startswith("gdst:"):
        return f"GDST business step {step.removeprefix('gdst:')}"
    ilmd = event.get("ilmd")
    if isinstance(ilmd, dict):
        for key in ilmd:
            if local_name(key) in SEAFOOD_ILMD:
                return f"catch information in the ILMD ({key})"
    for key in ("quantityList", "epcList"):
        for entry in event.get(key) or []:
            ident = entry.get("epcClass") if isinstance(entry, dict) else entry
            if isinstance(ident, str) and ident.startswith("urn:gdst:"):
                return "GDST product identifiers"
    return None


def object_event_cte(event: dict[str, Any], step: str | None,
                     lots_landed_in_document: bool = False) -> tuple[str | None, str | None]:
    """(CTE, note) of an ObjectEvent: the CTE or None when it is none; the note says
    what decided an ambiguous case, or, for no CTE, why (a sentence)."""
    action = event.get("action")
    if action == "DELETE":
        return None, "action DELETE (the objects cease to exist) is no FSMA 204 CTE"
    if step in _OBJECT_STEPS:
        return _OBJECT_STEPS[step], None
    if step == "packing":
        if action == "ADD":
            return "initial_packing", None
        return None, ("packing with action OBSERVE packs lots that exist already: no FSMA 204 "
                      "CTE (initial packing assigns the lot code, action ADD)")
    if step == "gdst:landing":
        if lots_landed_in_document:
            return "receiving", "landing of a catch this document already names: receiving"
        return "first_receiving", None
    if step == "receiving":
        if action == "OBSERVE":
            return "receiving", None
        if action == "ADD":
            evidence = seafood_evidence(event, step)
            if evidence is not None:
                return "first_receiving", f"ADD receiving of seafood ({evidence})"
            return "receiving", ("ADD receiving without seafood evidence: read as receiving "
                                 "(first land-based receiving is for seafood only, "
                                 "21 CFR 1.1335)")
        return None, "a receiving ObjectEvent needs action ADD or OBSERVE"
    if step is None:
        what = "an ObjectEvent without a CBV or GDST bizStep"
    else:
        what = f"bizStep {step.removeprefix('gdst:')}"
    sensor = " (a sensor report)" if event.get("sensorElementList") else ""
    return None, f"{what}{sensor} is no FSMA 204 Critical Tracking Event"
