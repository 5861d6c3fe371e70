// Command ethproof checks keyquorum's secp256k1 signatures the way an
// Ethereum node does, with go-ethereum itself: it builds one EIP-1559
// transaction, prints the hash a signer must sign, and, given a 65-byte
// r || s || v signature and the key's public key, asks types.Sender who
// signed the transaction and compares that with the key's address.
//
//	ethproof hash                         prints {"sighash": "<hex>"}
//	ethproof sender -sig HEX -pub HEX     prints {"sender", "address", "valid"}
//
// It is its own module so that go-ethereum never enters keyquorum's
// dependency graph; api/client's TestEthereumSenderByGoEthereum builds and
// runs it.
package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ethproof:", err)
		os.Exit(1)
	}
}

// transaction is a fixed mainnet EIP-1559 transfer: what is signed does not
// matter to the proof, only that go-ethereum hashes and recovers it.
func transaction() *types.Transaction {
	to := common.HexToAddress("0x3535353535353535353535353535353535353535")
	return types.NewTx(&types.DynamicFeeTx{
		ChainID:   big.NewInt(1),
		Nonce:     42,
		GasTipCap: big.NewInt(2e9),
		GasFeeCap: big.NewInt(100e9),
		Gas:       21000,
		To:        &to,
		Value:     big.NewInt(1e15),
	})
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: ethproof hash | ethproof sender -sig HEX -pub HEX")
	}
	signer := types.LatestSignerForChainID(big.NewInt(1))
	tx := transaction()
	out := json.NewEncoder(os.Stdout)
	switch args[0] {
	case "hash":
		return out.Encode(map[string]string{"sighash": hex.EncodeToString(signer.Hash(tx).Bytes())})
	case "sender":
		fs := flag.NewFlagSet("sender", flag.ContinueOnError)
		sigHex := fs.String("sig", "", "the 65-byte r || s || v signature, hex")
		pubHex := fs.String("pub", "", "the key's public key, compressed or uncompressed SEC1, hex")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		sig, err := hex.DecodeString(*sigHex)
		if err != nil {
			return fmt.Errorf("-sig: %w", err)
		}
		pubBytes, err := hex.DecodeString(*pubHex)
		if err != nil {
			return fmt.Errorf("-pub: %w", err)
		}
		if len(pubBytes) == 33 {
			pub, err := crypto.DecompressPubkey(pubBytes)
			if err != nil {
				return fmt.Errorf("-pub: %w", err)
			}
			pubBytes = crypto.FromECDSAPub(pub)
		}
		pub, err := crypto.UnmarshalPubkey(pubBytes)
		if err != nil {
			return fmt.Errorf("-pub: %w", err)
		}
		signed, err := tx.WithSignature(signer, sig)
		if err != nil {
			return fmt.Errorf("attach signature: %w", err)
		}
		sender, err := types.Sender(signer, signed)
		if err != nil {
			return fmt.Errorf("types.Sender: %w", err)
		}
		raw, err := signed.MarshalBinary()
		if err != nil {
			return err
		}
		address := crypto.PubkeyToAddress(*pub)
		return out.Encode(map[string]any{"sender": sender.Hex(), "address": address.Hex(),
			"valid": sender == address, "raw": hex.EncodeToString(raw)})
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
}
