/**
 * MQTT topic filters, on their own (no config, no mapping) so the subscription config, the broker-drops check,
 * the router and the probe all match topics the one way without importing each other.
 */

/** MQTT topic filter matching (+ one level, # the rest); `$`-topics only match filters that name them. */
export function topicMatches(filterLevels: readonly string[], topic: string): boolean {
  const levels = topic.split('/');
  if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const f = filterLevels[i];
    if (f === '#') return true;
    if (i >= levels.length) return false;
    if (f !== '+' && f !== levels[i]) return false;
  }
  return levels.length === filterLevels.length;
}
