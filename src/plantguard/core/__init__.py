"""Cross-cutting primitives: settings, database, errors, i18n, security, request context."""
