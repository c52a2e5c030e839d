import sys

from .cli import main, signals

signals.install()
sys.exit(main())
