"""Training and evaluation of the fraud model, and the demand model saved beside it
(:mod:`models.demand`); saved artifacts live in models/NAME/."""
