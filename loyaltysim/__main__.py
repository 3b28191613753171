"""python -m loyaltysim"""

from loyaltysim.cli import app

app(prog_name="loyaltysim")
