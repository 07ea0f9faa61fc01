// Issue 19: the underlay preset (see src/lab/presets.ts) with hawser's VXLAN cables, end to end.
import { describePreset } from './preset-support.js';

describePreset('underlay');
