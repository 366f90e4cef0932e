"""Cursor pagination: stable under inserts and no COUNT(*) over large tables."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination


class NewestFirstPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    invalid_cursor_message = "That cursor is not valid; start again from the first page."


class ByNamePagination(NewestFirstPagination):
    ordering = ("name", "id")


class BySequencePagination(NewestFirstPagination):
    ordering = ("seq",)
    page_size = 200
    max_page_size = 1000
