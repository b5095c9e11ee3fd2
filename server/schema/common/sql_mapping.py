"""The GraphQL types that one SQL statement can answer, by type name.

Each type module declares its type's SQL mapping next to the type (`declare(ObjectSql(...))`);
the read planner (server.schema.execution.planner) looks types up here while it walks a query. A type that
is not declared is answered by the stock executor."""

from __future__ import annotations

from ...db.planned_reads import ObjectSql

SQL_MAPPINGS: dict[str, ObjectSql] = {}


def declare(mapping: ObjectSql) -> ObjectSql:
    if mapping.type_name in SQL_MAPPINGS:
        raise RuntimeError(f"{mapping.type_name} has two SQL mappings")
    SQL_MAPPINGS[mapping.type_name] = mapping
    return mapping
