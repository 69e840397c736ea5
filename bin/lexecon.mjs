#!/usr/bin/env node
// The `lexecon` command: runs src/cli/main.ts through tsx (a runtime dependency), so it needs no build step.
import { tsImport } from 'tsx/esm/api';

const { main } = await tsImport('../src/cli/main.ts', import.meta.url);
process.exitCode = await main(process.argv.slice(2));
