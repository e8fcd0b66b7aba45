from idse_orchestrator.entry import main

raise SystemExit(main())
