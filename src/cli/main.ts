#!/usr/bin/env node
/**
 * The `iscsi` command. Before anything else, a secret given in a URL on the command line is
 * overwritten in the process title, which on Linux is the memory ps reads (/proc/<pid>/cmdline);
 * only then is the rest of the tool loaded (run.ts): its static imports would all load before
 * this line ran, leaving the secret readable for as long as that takes.
 */
import { hideSecretsFromProcessTitle } from "./argv-secrets.js";

hideSecretsFromProcessTitle(process.argv, (title) => {
  process.title = title;
});

await import("./run.js");
