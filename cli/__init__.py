"""Command-line interface of isingvar (installed as the package isingvar_cli)."""
