import sys

from deskhook.cli import main

sys.exit(main())
