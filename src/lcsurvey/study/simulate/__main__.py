"""``python -m lcsurvey.study.simulate``: the lcsurvey-simulate command."""

import sys

from lcsurvey.study.simulate import main

sys.exit(main())
