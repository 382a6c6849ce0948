"""Brokers: the paper book (the default) and a live exchange through ccxt, behind one interface."""
