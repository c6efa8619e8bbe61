// SPDX-License-Identifier: MIT
// bun test preload (bunfig.toml): the test runner starts from a clean signal state,
// whatever ran it. GNU make leaves glibc's internal signals 32 and 33 ignored in its
// recipes, and every program the tests start would inherit that, ours and the originals.
import { sigDefault } from "@qts/sys/sigdefault";

for (const sig of [32, 33]) sigDefault(sig);
