from django.contrib import admin

from .models import CachedPrice


@admin.register(CachedPrice)
class CachedPriceAdmin(admin.ModelAdmin):
    list_display = ["key", "expires_at", "updated_at"]
    search_fields = ["key"]
