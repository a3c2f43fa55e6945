"""Readers of coupling files and the HDF5 result store."""
