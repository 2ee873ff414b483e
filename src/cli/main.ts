#!/usr/bin/env node
/** The `ipwarden` executable. */
import { main } from './cli.js';

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
