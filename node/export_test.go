package node

// ParseExposition lets the external tests of this package read a scrape
// with the same parser as the internal ones.
var ParseExposition = parseExposition
