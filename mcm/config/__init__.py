"""Typed configuration: ``mcm.config.schema.MCMConfig`` composes the component configs; ``mcm.config.load``
reads presets and YAML with overrides.

This package module imports nothing: ``mcm.config.base`` is imported by every component config
(``mcm.teachers.config`` ...) and the schema imports those, so re-exporting the schema here made
``import mcm.teachers.config`` (as a process's first import) a circle."""
