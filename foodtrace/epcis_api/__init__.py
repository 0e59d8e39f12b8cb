"""EPCIS 2.0 REST interface (`foodtrace serve`): capture through the MQTT landing
path, query the stored chain events as EPCIS 2.0 JSON-LD. See app.py."""

from foodtrace.epcis_api.app import create_app
from foodtrace.epcis_api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
