def active_tenant(request):
    """The active tenant, config and role for the header's picker and role-aware templates."""
    if (
        not getattr(request, "user", None)
        or not request.user.is_authenticated
        or not hasattr(request, "gantry")
    ):
        return {}
    return {"gantry": request.gantry}
