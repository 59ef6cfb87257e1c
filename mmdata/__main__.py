"""``python -m mmdata``: the same command line as the ``mmdata`` script."""

from mmdata.cli import main

main()
