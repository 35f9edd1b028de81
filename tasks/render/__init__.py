"""Rendering of the consolidated report: Vietnamese prose, chart, .docx (Decree 30/2020) and .xlsx annex.

Every renderer takes the consolidation dict documented in the project notes and nothing else, so
they can run from a saved JSON file as well as inside the flow.
"""

from tasks.render.vietnamese_dates import format_date, format_date_line, format_number, format_percent

__all__ = ["format_date", "format_date_line", "format_number", "format_percent"]
