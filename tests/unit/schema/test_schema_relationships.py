"""View key dependencies and the relationships they add (pure)."""

from __future__ import annotations

from ctas7_panel.schema.model import Relationship
from ctas7_panel.schema.relationships import (
    expand_view_relationships,
    resolve_view_sources,
    target_list_origins,
    view_key_dependencies,
)

NODE_TREE = (
    "({QUERY :commandType 1 :querySource 0 :rtable ({RANGETBLENTRY :alias <> :subquery "
    "{QUERY :targetList ({TARGETENTRY :resno 1 :resname x :resorigtbl 99 :resorigcol 9 "
    ":resjunk false})}}) :jointree {FROMEXPR} :targetList ({TARGETENTRY :expr {VAR :varno 1 "
    ":varattno 1} :resno 1 :resname id :ressortgroupref 0 :resorigtbl 16390 :resorigcol 1 "
    ":resjunk false} {TARGETENTRY :expr {FUNCEXPR :funcid 871 :args ({VAR :varno 1})} "
    ":resno 2 :resname n\\ ame :resorigtbl 0 :resorigcol 0 :resjunk false} {TARGETENTRY "
    ":resno 3 :resname author_id :resorigtbl 16390 :resorigcol 3 :resjunk false}) "
    ":override 0 :groupClause <>})"
)


def test_target_list_origins_reads_only_the_top_query() -> None:
    assert target_list_origins(NODE_TREE) == [(1, 16390, 1), (3, 16390, 3)]
    assert target_list_origins("({QUERY :commandType 1 :targetList <> :override 0})") == []


FK = Relationship("posts_author_id_fkey", "public", "posts", ("author_id",), False,
                  "public", "authors", ("id",))  # fmt: skip


def test_views_on_both_sides_and_views_of_views() -> None:
    direct = {
        ("public", "authors_view"): [(1, "id", ("public", "authors"), "id")],
        ("public", "posts_view"): [(1, "aid", ("public", "posts"), "author_id"),
                                   (2, "aid2", ("public", "posts"), "author_id")],
        ("public", "posts_view_2"): [(1, "a", ("public", "posts_view"), "aid")],
    }  # fmt: skip
    deps = view_key_dependencies(resolve_view_sources(direct), [FK])
    rels = expand_view_relationships([FK], deps)
    got = {(r.relation, r.columns, r.referenced_relation, r.referenced_columns) for r in rels}
    assert got == {
        ("posts_view", ("aid",), "authors", ("id",)),
        ("posts_view", ("aid2",), "authors", ("id",)),
        ("posts_view_2", ("a",), "authors", ("id",)),
        ("posts", ("author_id",), "authors_view", ("id",)),
        ("posts_view", ("aid",), "authors_view", ("id",)),
        ("posts_view", ("aid2",), "authors_view", ("id",)),
        ("posts_view_2", ("a",), "authors_view", ("id",)),
    }
    assert all(r.foreign_key_name == FK.foreign_key_name for r in rels)


def test_partial_keys_are_not_exposed() -> None:
    fk = Relationship("c_fk", "public", "c", ("a", "b"), False, "public", "p", ("x", "y"))
    direct = {("public", "v"): [(1, "a", ("public", "c"), "a")]}
    assert view_key_dependencies(resolve_view_sources(direct), [fk]) == []
