"""Recipes: `schema` (typed sections and their ranges), `parsing` (YAML values and overrides into
the schema), `loading` (names, `extends:`, stages, the registries' names), `shipped` (where the
recipes that come with longft are)."""
