from agentconsole.cli.main import main

raise SystemExit(main())
