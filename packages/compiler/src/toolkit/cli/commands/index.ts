/**
 * @file The CLI's commands, in help order. A new command is a module exporting a `CliCommand`
 * and one line here.
 */
import type { CliCommand } from "../context.js";
import { checkCommand } from "./check.js";
import { compileCommand } from "./compile.js";
import { exportCommand } from "./export.js";
import { importCommand } from "./import.js";
import { printCommand } from "./print.js";
import { trainCommand } from "./train.js";

/** Every command module, registered in this order. */
export const commands: readonly CliCommand[] = [checkCommand, printCommand, trainCommand, compileCommand, exportCommand, importCommand];
