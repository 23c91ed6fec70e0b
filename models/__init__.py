"""Training and evaluation of the fraud model; saved artifacts live in models/NAME/."""
