"""``/compare``: two or more archived runs side by side."""

from bokeh.io import curdoc

from viz.compare_view import build_compare

# the Bokeh server runs this file once per browser session, under a module name of its own;
# importing it for any other reason (a doctest sweep) must not build a page
if __name__.startswith("bokeh_app_"):
    doc = curdoc()
    request = getattr(doc.session_context, "request", None)
    build_compare(doc, request.arguments if request is not None else None)
