"""The `ptr-trial` command: serve, migrate, seed-demo, token, issue-activation, export-schema,
trusted-documents, import-labs, refresh-responses, export (CDISC SDTM)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from .settings import Settings, get_settings

SCHEMA_FILE = Path("schema.graphql")


def _configure_logging(settings: Settings, command: str = "") -> None:
    if command == "serve":  # the service's logs: JSON lines (server/logs.py), the same in every worker
        from .logs import configure

        configure(settings.log_level, settings.log_format)
        return
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    if settings.is_sqlite and args.workers > 1:
        print("the embedded SQLite database runs with one worker; set DATABASE_URL for more", file=sys.stderr)
        return 2
    from .httplimits import uvicorn_options
    from .logs import logging_config

    if args.workers > 1:
        _prepare_multiprocess_metrics(settings)
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings.log_level, settings.log_format),
        access_log=False,  # the service writes its own access line (server/observability.py)
        proxy_headers=True,
        # Only the proxy's X-Forwarded-For is believed: otherwise every patient behind a proxy in
        # another container shares one rate-limit bucket, or a client spoofs its address.
        forwarded_allow_ips=settings.forwarded_allow_ips,
        **uvicorn_options(settings),
    )
    return 0


def _prepare_multiprocess_metrics(settings: Settings) -> None:
    """Workers share their metrics through files (prometheus-client's multiprocess mode): in
    PROMETHEUS_MULTIPROC_DIR, emptied of a previous run's files, or a fresh temporary directory."""
    import tempfile

    directory = settings.prometheus_multiproc_dir
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="ptr-trial-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)  # read by the workers' settings and prometheus-client
        get_settings.cache_clear()
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


async def _migrate(settings: Settings) -> None:
    from .db import migrate
    from .db.engine import build_engine

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings.effective_database_url)
    try:
        await migrate.upgrade(engine)
        print(f"database at revision {await migrate.current_revision(engine)}")
        refreshed = await _refresh_stale_responses(engine)
        if refreshed:
            print(f"stored platelet responses computed for {refreshed} subjects that had none current")
    finally:
        await engine.dispose()


async def _refresh_stale_responses(engine: Any) -> int:
    from .db.engine import build_sessionmaker
    from .services.response import fill_stale_responses

    return await fill_stale_responses(build_sessionmaker(engine, writes=True))


async def _seed_demo(settings: Settings) -> None:
    from .db.engine import build_engine, build_sessionmaker
    from .demo import seed_demo_trial

    await _migrate(settings)
    engine = build_engine(settings.effective_database_url)
    try:
        report = await seed_demo_trial(build_sessionmaker(engine, writes=True))
        print(report)
    finally:
        await engine.dispose()


async def _demo_activation_link(settings: Settings) -> None:
    """After `serve --seed-demo`: a fresh activation link for the first demo subject, issued by
    the same use case as staff use (actor "demo-seed", admin), so the diary app can be tried."""
    from sqlalchemy import select

    from .db.engine import build_engine, build_sessionmaker
    from .db.models import Subject

    engine = build_engine(settings.effective_database_url)
    try:
        async with build_sessionmaker(engine)() as session:
            first = (await session.execute(select(Subject.code).order_by(Subject.id).limit(1))).scalar_one_or_none()
    finally:
        await engine.dispose()
    if first is None:
        return
    issued = await _issue(settings, first, "demo-seed")
    if isinstance(issued, str):
        print(f"no activation link: {issued}", file=sys.stderr)
        return
    url, hours = issued[1], issued[2]
    print(f"Patient app: open {url} on a phone-sized browser (code for {first}, valid {hours} h)")


async def _issue(settings: Settings, subject_code: str, actor_id: str) -> Any:
    """(issued activation, activation URL, validity in hours), or the refusal's message."""
    from .db.engine import build_engine, build_sessionmaker
    from .domain.auth import Actor
    from .domain.devices import secret_digest_key
    from .domain.enums import Role
    from .schema.access.mutations import activation_url
    from .services.devices import issue_activation
    from .services.errors import ServiceError
    from .services.unit_of_work import UnitOfWork

    engine = build_engine(settings.effective_database_url)
    try:
        actor = Actor(actor_id=actor_id, role=Role.ADMIN)
        async with UnitOfWork(build_sessionmaker(engine, writes=True), actor, request_id="cli:issue-activation") as uow:
            try:
                issued = await issue_activation(
                    uow, subject_code=subject_code, digest_key=secret_digest_key(settings.jwt_secret)
                )
            except ServiceError as error:
                return error.message
            await uow.commit()
    finally:
        await engine.dispose()
    hours = round((issued.activation.expires_at - issued.activation.created_at).total_seconds() / 3600)
    return issued, activation_url(settings.public_base_url, issued.code), hours


async def _issue_activation(args: argparse.Namespace, settings: Settings) -> int:
    from .schema.access.mutations import qr_svg

    issued = await _issue(settings, args.subject, args.actor_id)
    if isinstance(issued, str):
        print(f"refused: {issued}", file=sys.stderr)
        return 2
    activation, url, _ = issued
    # The code is printed for the staff member to hand over; it is never logged.
    print(f"code: {activation.code}")
    print(f"activation URL: {url}")
    print(f"expires: {activation.activation.expires_at.isoformat()}")
    if args.qr_svg:
        args.qr_svg.write_text(qr_svg(url), encoding="utf-8")
        print(f"QR code written to {args.qr_svg}")
    return 0


async def _import_labs(args: argparse.Namespace, settings: Settings) -> int:
    from .db.engine import build_engine, build_sessionmaker
    from .domain.auth import Actor
    from .domain.enums import Role
    from .services.errors import ServiceError
    from .services.lab_import import import_lab_csv
    from .services.unit_of_work import UnitOfWork

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        print(f"cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    engine = build_engine(settings.effective_database_url)
    actor = Actor(actor_id=args.actor_id, role=Role.ADMIN)
    try:
        async with UnitOfWork(
            build_sessionmaker(engine, writes=True), actor, request_id=f"import-labs:{args.file.name}"
        ) as uow:
            try:
                report = await import_lab_csv(uow, text, partial=args.partial)
            except ServiceError as error:
                print(f"refused: {error.message}", file=sys.stderr)
                return 2
            if report.written:
                await uow.commit()
    finally:
        await engine.dispose()
    print(report)
    return 0 if report.written and not (report.problems and not args.partial) else 1


async def _refresh_responses(settings: Settings) -> None:
    import time
    from datetime import datetime, timezone

    from .db.engine import build_engine, build_sessionmaker
    from .services.response import refresh_stored_responses

    engine = build_engine(settings.effective_database_url)
    try:
        started = time.perf_counter()
        async with build_sessionmaker(engine, writes=True)() as session, session.begin():
            today = datetime.now(timezone.utc).date()
            subjects = await refresh_stored_responses(session, None, today)
        print(
            f"refresh-responses: {subjects} subjects recomputed under the parameters in force on {today.isoformat()}"
            f" in {time.perf_counter() - started:.1f} s"
        )
    finally:
        await engine.dispose()


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from .auth import InvalidToken, development_token
    from .domain.enums import Role

    try:
        token = development_token(
            settings,
            role=Role(args.role),
            sites=args.site or [],
            subject=args.subject,
            sub=args.sub,
            ttl=timedelta(minutes=args.ttl_minutes) if args.ttl_minutes else None,
        )
    except InvalidToken as error:
        print(f"refused: {error}", file=sys.stderr)
        return 2
    if args.role == "patient" and not args.subject:
        print("a patient token needs --subject CODE", file=sys.stderr)
        return 2
    print(token)
    return 0


async def _export_sdtm(args: argparse.Namespace, settings: Settings) -> int:
    """Writes one file per dataset and define.json. The operator runs with database access, so the
    default scope is an admin's (every site, free text included); --as-role analyst or monitor
    produces exactly what that role would download from the API."""
    from .db.engine import build_engine, build_sessionmaker
    from .domain.auth import Actor
    from .domain.enums import Role
    from .services import exports
    from .services.errors import ServiceError

    sites = frozenset(code for text in args.site or [] for code in text.split(",") if code)
    if args.as_role == "monitor" and not sites:
        print("a monitor's export needs --site CODE", file=sys.stderr)
        return 2
    actor = Actor(actor_id=args.actor_id, role=Role(args.as_role), site_codes=sites)
    try:
        names = exports.parse_domains(args.domains)
        exports.require_exporter(actor)
    except ServiceError as error:
        print(f"refused: {error.message}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings.effective_database_url)
    try:
        async with build_sessionmaker(engine)() as session:
            ctx = await exports.export_context(session, actor)
            for name in names:
                path = args.out / exports.file_name(name, args.format)
                with path.open("wb") as out:
                    async for chunk in exports.dataset_chunks(session, ctx, name, args.format):
                        out.write(chunk)
                print(f"wrote {path}")
            define = args.out / "define.json"
            define.write_bytes(exports.define_json(ctx, names))
            print(f"wrote {define}")
    finally:
        await engine.dispose()
    return 0


def export_schema_sdl(settings: Settings | None = None) -> str:
    from .schema.schema import build_schema

    return build_schema(settings or Settings()).as_str() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ptr-trial", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the API (embedded SQLite unless DATABASE_URL is set)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--reload", action="store_true")
    serve.add_argument("--seed-demo", action="store_true", help="load the demo trial first (idempotent)")

    commands.add_parser("migrate", help="apply database migrations up to head")
    commands.add_parser("seed-demo", help="load the demo trial (idempotent)")

    token = commands.add_parser("token", help="print a development token (refused in production)")
    token.add_argument(
        "--role", required=True, choices=["patient", "investigator", "coordinator", "monitor", "analyst", "admin"]
    )
    token.add_argument("--site", action="append", help="a site code; repeat for several")
    token.add_argument("--subject", help="the patient's subject code")
    token.add_argument("--sub", help="the actor id written into the audit trail")
    token.add_argument("--ttl-minutes", type=int)

    activation = commands.add_parser(
        "issue-activation", help="issue a one-time activation code for a patient's phone (printed once)"
    )
    activation.add_argument("--subject", required=True, help="the subject code, e.g. S01-001")
    activation.add_argument("--actor-id", default="cli-admin", help="who the audit trail names")
    activation.add_argument("--qr-svg", type=Path, help="also write the activation link as an SVG QR code")

    labs = commands.add_parser("import-labs", help="load a lab system's CSV export (all rows or none)")
    labs.add_argument("file", type=Path)
    labs.add_argument("--partial", action="store_true", help="write the good rows and report the bad ones")
    labs.add_argument("--actor-id", default="lab-import", help="who the audit trail names")

    commands.add_parser(
        "refresh-responses",
        help="recompute every subject's stored platelet responses (after a future-dated parameter version"
        " takes effect, or a bulk load that bypassed the service)",
    )

    export = commands.add_parser("export-schema", help="write the GraphQL SDL (default schema.graphql)")
    export.add_argument("--output", "-o", type=Path, default=SCHEMA_FILE)
    export.add_argument("--check", action="store_true", help="exit 1 when the file differs from the code")

    trusted = commands.add_parser(
        "trusted-documents",
        help="write the manifest of the clients' GraphQL documents (default clients/trusted-documents.json)",
    )
    trusted.add_argument("--output", "-o", type=Path, default=None)
    trusted.add_argument("--check", action="store_true", help="exit 1 when the file differs from the clients")

    sdtm = commands.add_parser("export", help="write the trial as CDISC SDTM datasets (Dataset-JSON v1.1 or CSV)")
    sdtm.add_argument("--format", choices=["dataset-json", "csv"], default="dataset-json")
    sdtm.add_argument("--out", type=Path, required=True, help="directory for the files (created when missing)")
    sdtm.add_argument("--domains", help="comma-separated datasets, e.g. DM,AE,SUPPAE (default: all)")
    sdtm.add_argument("--as-role", choices=["analyst", "monitor", "admin"], default="admin")
    sdtm.add_argument("--site", action="append", help="a site code for --as-role monitor; repeat for several")
    sdtm.add_argument("--actor-id", default="cli-export")

    args = parser.parse_args(argv)
    settings = get_settings()
    _configure_logging(settings, args.command)
    demo = args.command == "seed-demo" or (args.command == "serve" and args.seed_demo)
    if demo and settings.is_production:
        # Fictional subjects in a production database, and a live activation code printed to a log.
        print("the demo trial is refused in production (PTR_ENVIRONMENT=production)", file=sys.stderr)
        return 2
    if args.command == "serve":
        if "public_base_url" not in settings.model_fields_set:
            # Activation links point at this server unless PTR_PUBLIC_BASE_URL says otherwise; the
            # environment carries it to uvicorn's workers, which read their own settings.
            host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
            os.environ["PTR_PUBLIC_BASE_URL"] = f"http://{host}:{args.port}"
            get_settings.cache_clear()
            settings = get_settings()
        if args.seed_demo:
            asyncio.run(_seed_demo(settings))
            asyncio.run(_demo_activation_link(settings))
        return _serve(args, settings)
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return 0
    if args.command == "seed-demo":
        asyncio.run(_seed_demo(settings))
        return 0
    if args.command == "import-labs":
        return asyncio.run(_import_labs(args, settings))
    if args.command == "refresh-responses":
        asyncio.run(_refresh_responses(settings))
        return 0
    if args.command == "token":
        return _token(args, settings)
    if args.command == "issue-activation":
        return asyncio.run(_issue_activation(args, settings))
    if args.command == "export":
        return asyncio.run(_export_sdtm(args, settings))
    if args.command == "export-schema":
        sdl = export_schema_sdl()
        if args.check:
            same = args.output.exists() and args.output.read_text() == sdl
            print("schema.graphql is current" if same else f"{args.output} differs: run `ptr-trial export-schema`")
            return 0 if same else 1
        args.output.write_text(sdl)
        print(f"wrote {args.output}")
        return 0
    if args.command == "trusted-documents":
        return _trusted_documents(args)
    return 2


def _trusted_documents(args: argparse.Namespace) -> int:
    """The manifest PTR_TRUSTED_DOCUMENTS_ONLY enforces (server/persisted_documents.py), collected
    from the clients' sources (server/client_operations.py)."""
    from .client_operations import CLIENTS_DIR, manifest_json, trusted_manifest

    output: Path = args.output or CLIENTS_DIR / "trusted-documents.json"
    manifest = trusted_manifest()
    text = manifest_json(manifest)
    if args.check:
        same = output.exists() and output.read_text(encoding="utf-8") == text
        print(f"{output} is current" if same else f"{output} differs: run `ptr-trial trusted-documents`")
        return 0 if same else 1
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output} ({len(manifest)} documents)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
