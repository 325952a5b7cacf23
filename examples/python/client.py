#!/usr/bin/env python3
"""A DUI's gRPC client of Passerelle, in Python.

The gRPC code is generated at start-up from the project's proto/ with grpcio-tools into a temporary
directory (nothing generated is committed). Requirements:

    python3 -m pip install grpcio grpcio-tools grpcio-status

Against the sandbox (`passerelle serve --sandbox`, plaintext on loopback):

    python3 examples/python/client.py --server 127.0.0.1:7443 \
        --token sandbox-token-mecs-tilleuls examples/requests/08-fiche-navette-educateur-ase.json

With mutual TLS (the DUI's API client certificate, the gateway's CA):

    python3 examples/python/client.py --server passerelle.example.fr:7443 \
        --ca ca-chain.pem --cert api-client.chain.pem --key api-client.key.pem REQUEST.json

What it does: Explain (dry run: the decision, nothing stored), Submit, Submit again with the same
idempotency key (a replay: same transmission, nothing new), Get. With --watch it then follows Watch
until every delivery is final; --cancel cancels the transmission first. Human-readable lines go to stderr;
stdout gets one JSON summary. On an API error it prints the gRPC code, the stable reason
(google.rpc.ErrorInfo) and every invalid field (google.rpc.BadRequest), and exits with 2.
"""

import argparse
import importlib
import json
import os
import sys
import tempfile

import grpc
from google.protobuf import json_format

PROTO_FILES = [
    "passerelle/v1/common.proto",
    "passerelle/v1/child.proto",
    "passerelle/v1/documents.proto",
    "passerelle/v1/decision.proto",
    "passerelle/v1/transmission.proto",
    "passerelle/v1/inbox.proto",
    "passerelle/v1/admin.proto",
]

DEFAULT_PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")


def log(*args):
    print(*args, file=sys.stderr)


def generate(proto_dir, out_dir):
    """Runs protoc (from grpcio-tools) on proto/ and returns the imported modules."""
    import grpc_tools
    from grpc_tools import protoc

    # google/protobuf/timestamp.proto ships inside grpcio-tools.
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    args = [
        "protoc",
        "-I" + proto_dir,
        "-I" + well_known,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
    ] + PROTO_FILES
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on " + proto_dir)
    sys.path.insert(0, out_dir)
    mods = {
        name: importlib.import_module("passerelle.v1." + name)
        for name in ["common_pb2", "decision_pb2", "transmission_pb2", "transmission_pb2_grpc"]
    }
    return argparse.Namespace(**mods)


def open_channel(args):
    if not args.ca:
        return grpc.insecure_channel(args.server)
    with open(args.ca, "rb") as f:
        root = f.read()
    key = chain = None
    if args.cert:
        with open(args.cert, "rb") as f:
            chain = f.read()
        with open(args.key, "rb") as f:
            key = f.read()
    creds = grpc.ssl_channel_credentials(
        root_certificates=root, private_key=key, certificate_chain=chain
    )
    options = []
    if args.server_name:
        # The certificate's name when the address is an IP or an alias.
        options.append(("grpc.ssl_target_name_override", args.server_name))
    return grpc.secure_channel(args.server, creds, options=options)


def describe_error(err):
    """A gRPC error as a dict: code, message, ErrorInfo reason/metadata, BadRequest fields."""
    out = {"code": err.code().name, "message": err.details(), "reason": "", "fields": []}
    try:
        from google.rpc import error_details_pb2
        from grpc_status import rpc_status
    except ImportError:  # grpcio-status missing: the code and message are still useful
        return out
    status = rpc_status.from_call(err)
    if status is None:
        return out
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            out["reason"] = info.reason
            if "decision" in info.metadata:
                # A policy refusal carries the whole decision (JSON) in ErrorInfo.metadata.
                out["decision"] = json.loads(info.metadata["decision"])
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            out["fields"] = [
                {"field": v.field, "description": v.description} for v in br.field_violations
            ]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            ri = error_details_pb2.RetryInfo()
            detail.Unpack(ri)
            out["retryAfterSeconds"] = ri.retry_delay.seconds
    return out


def status_names(pb, transmission):
    return [pb.common_pb2.DeliveryStatus.Name(d.status) for d in transmission.deliveries]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("request", help="JSON body of POST /v1/transmissions (a SubmitRequest)")
    p.add_argument("--server", default=os.environ.get("PASSERELLE_SERVER", "127.0.0.1:7443"))
    p.add_argument("--token", default=os.environ.get("PASSERELLE_TOKEN"), help="bearer token")
    p.add_argument("--ca", help="CA certificates of the gateway (PEM): enables TLS")
    p.add_argument("--cert", help="API client certificate chain (PEM), for mTLS")
    p.add_argument("--key", help="API client private key (PEM), for mTLS")
    p.add_argument("--server-name", help="name in the gateway's certificate")
    p.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR)
    p.add_argument("--idempotency-key", help="overrides the request's idempotencyKey")
    p.add_argument("--watch", action="store_true", help="follow Watch until every delivery is final")
    p.add_argument("--cancel", action="store_true", help="cancel first, then Watch until final")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per unary call")
    p.add_argument("--watch-seconds", type=float, default=60.0, help="how long to follow Watch")
    args = p.parse_args()
    if bool(args.cert) != bool(args.key):
        p.error("--cert and --key go together")

    with tempfile.TemporaryDirectory(prefix="passerelle-py-") as gen:
        pb = generate(os.path.abspath(args.proto_dir), gen)
        tx = pb.transmission_pb2
        with open(args.request, "rb") as f:
            # Canonical proto3 JSON: the same file is the HTTP/JSON body.
            req = json_format.Parse(f.read(), tx.SubmitRequest())
        if args.idempotency_key:
            req.idempotency_key = args.idempotency_key
        md = [("authorization", "Bearer " + args.token)] if args.token else []
        summary = {}
        with open_channel(args) as channel:
            stub = pb.transmission_pb2_grpc.TransmissionServiceStub(channel)
            try:
                ex = stub.Explain(req, metadata=md, timeout=args.timeout)
                d = ex.decision
                summary["explain"] = {
                    "outcome": pb.decision_pb2.Outcome.Name(d.outcome),
                    "accepted": d.accepted,
                    "dryRun": d.dry_run,
                    "planned": len(ex.planned),
                }
                log("explain:", summary["explain"]["outcome"], "accepted" if d.accepted else "refused")
                for t in d.targets:
                    codes = ",".join(x.code for x in t.denials)
                    log("  ", t.target_id, t.recipient, t.document_id,
                        pb.decision_pb2.Outcome.Name(t.outcome), codes)

                first = stub.Submit(req, metadata=md, timeout=args.timeout)
                t = first.transmission
                log("submitted:", t.id, "replayed" if first.replayed else "new", status_names(pb, t))
                summary["transmission"] = json_format.MessageToDict(t)
                summary["transmissionId"] = t.id
                summary["replayedFirst"] = first.replayed

                # Same key, same body: the same transmission comes back, nothing new is created.
                again = stub.Submit(req, metadata=md, timeout=args.timeout)
                summary["replayId"] = again.transmission.id
                summary["replayed"] = again.replayed
                log("replay:", again.transmission.id, "replayed" if again.replayed else "NEW")

                got = stub.Get(tx.GetTransmissionRequest(id=t.id), metadata=md, timeout=args.timeout)
                summary["statuses"] = status_names(pb, got)
                log("get:", got.id, summary["statuses"])

                if args.cancel:
                    # Stops the deliveries still queued; one already in flight finishes.
                    stub.Cancel(tx.CancelRequest(id=t.id, reason="client example"), metadata=md,
                                timeout=args.timeout)
                if args.watch or args.cancel:
                    seen, all_final = [], False
                    stream = stub.Watch(tx.WatchRequest(id=t.id, after_seq=0), metadata=md,
                                        timeout=args.watch_seconds)
                    try:
                        for ev in stream:
                            if ev.HasField("event"):
                                seen.append(pb.common_pb2.DeliveryStatus.Name(ev.event.to))
                                log("watch:", ev.event.delivery_id, seen[-1], ev.event.detail)
                            if ev.all_final:
                                all_final = True
                                break
                    except grpc.RpcError as err:
                        # Our own deadline only ends the following: a delivered message awaiting its
                        # read receipt is not final for days. Resume later with after_seq.
                        if err.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
                            raise
                        log("watch: stopped after", args.watch_seconds, "s; not every delivery is final")
                    summary["watched"] = seen
                    summary["allFinal"] = all_final
            except grpc.RpcError as err:
                e = describe_error(err)
                log("error:", e["code"], e["reason"], e["message"])
                for v in e["fields"]:
                    log("  ", v["field"] + ":", v["description"])
                summary["error"] = e
                print(json.dumps(summary, ensure_ascii=False, indent=2))
                return 2
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return 0


if __name__ == "__main__":
    sys.exit(main())
