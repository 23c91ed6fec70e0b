"""Label texts of a yes/no field and how the one rule reads them, for the tests of its
Python, Arrow and Spark forms."""

# None: no label
LABELS = {
    "1": True,
    "0": False,
    "1.0": True,
    "0.0": False,
    " 1 ": True,
    "TRUE": True,
    "False": False,
    "yes": True,
    "No": False,
    "\t0\n": False,
    "+1": True,
    "1e0": True,
    "2": None,
    "-1": None,
    "0.5": None,
    "": None,
    "maybe": None,
    "nan": None,
    "1,0": None,
}
