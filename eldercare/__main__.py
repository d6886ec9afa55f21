import sys

from eldercare.cli import main

sys.exit(main())
