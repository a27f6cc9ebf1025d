"""Contracts of the gold tables: the insights analysts, dashboards and the weekly report read.

Each module holds one table's contract and, beside it, the parameters its job uses
(resolutions, windows, deadlines, weights): one place for each rule and threshold.
"""
