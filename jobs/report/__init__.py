"""The weekly insight report for leaders: numbers from a pinned lake, sentences, charts, HTML and PDF.

See jobs/report/README.md: how a build works, how a rebuild proves the same numbers, and
how a new gold table adds a section.
"""
