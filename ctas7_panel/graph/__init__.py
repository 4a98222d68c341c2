"""The schema graph and change impact (issue 18), optionally mirrored to SurrealDB.

Pure core, thin I/O shells, one job per module:

| module | job | pure? |
|---|---|---|
| ``model`` | ``NodeId``, ``Node``, ``Edge``, ``Graph`` (indexes, ``dependents``) | yes |
| ``facts`` | ``pg_depend`` facts (``queries/dependency_{rows,nodes}.sql``) | I/O |
| ``build`` | ``build_graph(snapshot, facts, tasks=, types_files=)`` | yes |
| ``tasks`` | Legion tasks -> tables/columns; the task manifest file | yes (+ file) |
| ``impact`` | ``impact_of(graph, target)``, ``graph_changes``, ``render``, ``summary`` | yes |
| ``delta`` | ``graph_delta``, ``apply_delta``; the file the tracker hands on | yes (+ file) |
| ``live`` | read a live database into a ``Graph`` (introspection + facts + manifest) | I/O |
| ``scratch`` | apply a migration on a scratch copy of the schema, rolled back | I/O |
| ``impact_cli`` | ``ctas7 schema impact TARGET`` | I/O |
| ``surql`` | SurrealQL text: literals, the mirror's schema, statements | yes |
| ``mirror`` | what to write to the mirror (``plan_delta``, ``plan_sync``, version, lineage) | yes |
| ``store`` | ``GraphStore``: the SurrealDB connection (embedded or ws://), one owner | I/O |
| ``storelock`` | the lock file that makes one process the owner of an embedded store | I/O |
| ``remote`` | the impact walk through SurrealQL on the mirror (``--from-graph``) | I/O |
| ``cli`` | ``ctas7 graph sync`` / ``ctas7 graph query`` | I/O |
| ``target`` | the bridge's ``graph`` target: every schema version and event lineage | I/O |

Nothing here is imported by ``ctas7 schema`` at start-up; SurrealDB (the optional extra
``ctas7-panel[graph]``) is imported only by ``store``.
"""
