"""`foodtrace serve`: the EPCIS 2.0 REST interface (foodtrace/epcis_api) on uvicorn.

One process; SIGTERM / SIGINT let uvicorn finish the requests in flight and exit.
A capture that has returned 202 is committed, one cut off earlier stored nothing
(or everything, and a retry stores it once), so stopping never loses an event.
Run several processes behind one address with the same
FOODTRACE_API_PAGE_TOKEN_KEY, so that a page token of one is good at the others.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

    from foodtrace.cli.output import Subcommands


def register(sub: Subcommands) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the EPCIS 2.0 REST interface (POST /capture, GET /events)",
        description=(
            "EPCIS 2.0 capture and query over HTTP. Settings: FOODTRACE_DATABASE_URL "
            "(a login of role foodtrace_api), FOODTRACE_API_TOKENS_FILE (sha256 of each "
            "sender's bearer token and its actor id), FOODTRACE_MAX_MESSAGE_BYTES, "
            "FOODTRACE_API_PAGE_TOKEN_KEY, FOODTRACE_EPCIS_TZ_OFFSET, FOODTRACE_MQTT_URL "
            "(optional: rejection notices on MQTT too)."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", help="the certificate's private key (PEM)")
    p.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="stderr log level",
    )
    p.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from foodtrace.config import Settings
    from foodtrace.epcis_api import ApiSettings, create_app

    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = create_app(ApiSettings.from_env(Settings.from_env()))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        # the Authorization header is never logged; the access log shows paths only
        access_log=True,
    )
    return 0
