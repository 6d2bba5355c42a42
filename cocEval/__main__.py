from cocEval.cli import main

raise SystemExit(main())
