// Issue 19: the flannel preset (see src/lab/presets.ts) with hawser's VXLAN cables, end to end.
import { describePreset } from './preset-support.js';

describePreset('flannel');
