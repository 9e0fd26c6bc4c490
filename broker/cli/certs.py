"""`broker certs dev`: a local CA with server and client certificates, for trying TLS/mTLS."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from broker.errors import BrokerError


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("certs", help="certificates for the broker's TLS listener")
    actions = parser.add_subparsers(dest="certs_command", required=True, metavar="ACTION")
    dev = actions.add_parser(
        "dev",
        help="create a throwaway CA, a server and a client certificate (development only)",
        description=(
            "Writes ca.pem, ca-key.pem, server.pem, server-key.pem, client.pem and "
            "client-key.pem (keys mode 0600). Point tls_cert_file/tls_key_file at the server "
            "pair and tls_client_ca_file at ca.pem for mTLS."
        ),
    )
    dev.add_argument("--out", type=Path, required=True, help="directory to write into")
    dev.add_argument(
        "--server-name",
        action="append",
        dest="server_names",
        metavar="NAME",
        help="DNS name or IP address of the server certificate (repeatable; "
        "default: localhost, 127.0.0.1, ::1)",
    )
    dev.add_argument("--client-name", default="agency-client", help="client certificate's CN")
    dev.add_argument("--days", type=int, default=30, help="validity in days (default 30)")
    dev.add_argument("--force", action="store_true", help="replace existing files")
    dev.set_defaults(func=run_dev)


def run_dev(args: argparse.Namespace) -> int:
    from broker import tls_dev

    try:
        certificates = tls_dev.create(
            server_names=tuple(args.server_names or tls_dev.DEFAULT_SERVER_NAMES),
            client_name=args.client_name,
            days=args.days,
        )
        written = certificates.write(args.out, overwrite=args.force)
    except (BrokerError, OSError) as e:
        print(f"broker certs dev: {e}", file=sys.stderr)
        return 2
    for name, path in written.items():
        print(f"wrote {path}" + ("  (private key, mode 0600)" if "key" in name else ""))
    print(
        "\nbroker.toml:\n"
        f'  tls_cert_file = "{written["server.pem"]}"\n'
        f'  tls_key_file = "{written["server-key.pem"]}"\n'
        f'  tls_client_ca_file = "{written["ca.pem"]}"   # optional: require client certs\n'
        "grpcurl:\n"
        f"  grpcurl -cacert {written['ca.pem']} -cert {written['client.pem']} "
        f"-key {written['client-key.pem']} HOST:PORT list"
    )
    return 0
