"""Routes filled in by the pages that own them."""

urlpatterns: list = []
