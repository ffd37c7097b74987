import sys

from .cli.main import PROG, main

sys.argv[0] = PROG  # records name the command as users type it
sys.exit(main())
